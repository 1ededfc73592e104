//! The frame format and the per-peer frames streams: a frame is a u32 little-endian
//! length and then the bytes, refused before it is read when over its limit. One writer
//! task per peer gathers what has queued into one write; one reader per inbound stream
//! charges each frame to the sender's budget (`crate::budget`) before handing it on.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, StreamProtocol, request_response};
use tokio::sync::mpsc;
use tracing::debug;

use super::STREAM_PROTOCOL;
use crate::budget::{Class, Over, PeerBudget};
use crate::wire::{MAX_FRAME_BYTES, MAX_PUSH_FRAME_BYTES, MAX_REQUEST_BYTES};

/// Most bytes a writer gathers from its queue into one write.
const WRITE_GATHER_BYTES: usize = 1 << 20;
/// What a frame read allocates before the bytes arrive.
const READ_CHUNK: usize = 64 * 1024;
/// A frame's bytes must all arrive within this long of its length (a peer that trickles a
/// frame does not hold its buffer forever).
const FRAME_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest frame an observer may push: its whole burst of transaction gossip
/// (`budget::Class::limit`), with room for the tag.
const MAX_OBSERVER_FRAME_BYTES: usize = (512 << 10) + 1024;

/// Frames: u32 little-endian length, then the bytes; anything over the limit is refused
/// before it is read.
#[derive(Clone, Default, Debug)]
pub struct FrameCodec;

/// Read one frame of at most `max` bytes. Memory grows with the bytes that actually
/// arrive, never with the length a peer announces: a peer that announces 8 MiB and sends
/// nothing costs nothing.
pub async fn read_frame<T: futures::AsyncRead + Unpin + Send>(
    io: &mut T,
    max: usize,
) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds {max}"),
        ));
    }
    let body = async {
        let mut buf: Vec<u8> = Vec::new();
        while buf.len() < len {
            let start = buf.len();
            let want = (len - start).min(READ_CHUNK);
            // doubling growth, capped at the frame's length: exact steps of 64 KiB would
            // copy the buffer again at almost every chunk (~150 MiB of copying for an
            // 8 MiB frame)
            if buf.capacity() < start + want {
                let target = (buf.capacity() * 2).max(start + want).min(len);
                buf.reserve_exact(target - start);
            }
            buf.resize(start + want, 0);
            io.read_exact(&mut buf[start..]).await?;
        }
        Ok::<_, io::Error>(buf)
    };
    match tokio::time::timeout(FRAME_BODY_TIMEOUT, body).await {
        Ok(Ok(buf)) => Ok(buf),
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame of {len} bytes cut short"),
        )),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("frame of {len} bytes not delivered within {FRAME_BODY_TIMEOUT:?}"),
        )),
    }
}

pub(super) async fn write_frame<T: futures::AsyncWrite + Unpin + Send>(
    io: &mut T,
    bytes: &[u8],
) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    // one write: yamux sends each write as its own frame, and each frame costs a noise
    // frame and a syscall
    let mut frame = Vec::with_capacity(4 + bytes.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(bytes);
    io.write_all(&frame).await?;
    io.flush().await?;
    io.close().await
}

#[async_trait::async_trait]
impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_REQUEST_BYTES).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_FRAME_BYTES).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

/// Append one frame (u32 little-endian length, then the bytes) to `buf`.
pub(super) fn push_frame(buf: &mut Vec<u8>, bytes: &[u8]) {
    // frames are built by this node under MAX_FRAME_BYTES, far below u32::MAX
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// One peer's writer: opens the frames stream and writes what `frames` delivers, gathering
/// everything queued into one write. Ends when the stream fails or `frames` closes (the
/// node then starts a new writer for the peer's next message).
pub(super) async fn write_frames(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    mut frames: mpsc::Receiver<Vec<u8>>,
) {
    let mut stream = match control
        .open_stream(peer, StreamProtocol::new(STREAM_PROTOCOL))
        .await
    {
        Ok(s) => s,
        Err(e) => {
            debug!(%peer, "frames stream: {e}");
            return;
        }
    };
    let mut buf = Vec::new();
    while let Some(first) = frames.recv().await {
        buf.clear();
        push_frame(&mut buf, &first);
        while buf.len() < WRITE_GATHER_BYTES {
            match frames.try_recv() {
                Ok(more) => push_frame(&mut buf, &more),
                Err(_) => break,
            }
        }
        let written = async {
            stream.write_all(&buf).await?;
            stream.flush().await
        };
        if let Err(e) = written.await {
            debug!(%peer, "frames stream closed: {e}");
            return;
        }
    }
    let _ = stream.close().await;
}

/// What a frames reader tells the network task.
#[derive(Debug)]
pub(super) enum FrameEvent {
    /// A frame within the peer's budget.
    Frame(Vec<u8>),
    /// A frame that does not parse as one (over the size limit): the stream ends.
    Malformed(io::Error),
    /// A frame of a kind this peer may not send: dropped.
    Refused(Class),
    /// The peer is over its budget for this kind: its stream is not read for a while (or,
    /// for a frame larger than any budget, the frame is dropped).
    OverBudget(Class),
}

/// Which connected peers are validators, shared with the frames readers.
pub(super) type ValidatorSet = Arc<RwLock<HashSet<PeerId>>>;

/// One peer's budget, shared by its inbound frames streams.
pub(super) type SharedBudget = Arc<std::sync::Mutex<PeerBudget>>;

/// The inbound frames streams open per peer, the budget they share, and when the last
/// one closed (a budget outlives its streams for [`BUDGET_MEMORY`], so closing and
/// reopening a stream does not buy a fresh burst).
pub(super) type FrameReaders =
    Arc<std::sync::Mutex<HashMap<PeerId, (usize, SharedBudget, Instant)>>>;

/// How long a peer's frames budget is kept after its last stream closed.
pub(super) const BUDGET_MEMORY: Duration = Duration::from_secs(60);

pub(super) fn is_validator(set: &ValidatorSet, peer: &PeerId) -> bool {
    match set.read() {
        Ok(s) => s.contains(peer),
        Err(p) => p.into_inner().contains(peer),
    }
}

/// One inbound frames stream: each frame within the peer's budget goes to the network task
/// as `(peer, frame)`; a frame over budget waits until the budget allows (the stream is not
/// read meanwhile, which slows the sender), a frame of a kind the peer may not send is
/// dropped, both reported (over budget at most once a second); a frame over the size limit
/// ends the stream and is reported as an error.
pub(super) async fn read_frames<S: futures::AsyncRead + Unpin + Send>(
    peer: PeerId,
    mut stream: S,
    to: mpsc::Sender<(PeerId, FrameEvent)>,
    validators: ValidatorSet,
    budget: SharedBudget,
) {
    let mut reported: Option<Instant> = None;
    loop {
        let max = if is_validator(&validators, &peer) {
            MAX_PUSH_FRAME_BYTES
        } else {
            MAX_OBSERVER_FRAME_BYTES
        };
        let frame = match read_frame(&mut stream, max).await {
            Ok(frame) => frame,
            Err(e) => {
                if e.kind() == io::ErrorKind::InvalidData {
                    let _ = to.send((peer, FrameEvent::Malformed(e))).await;
                } else {
                    debug!(%peer, "inbound frames stream closed: {e}");
                }
                return;
            }
        };
        let validator = is_validator(&validators, &peer);
        let class = Class::of(&frame);
        let event = loop {
            let taken = {
                let mut budget = budget.lock().unwrap_or_else(|p| p.into_inner());
                budget.set_validator(validator);
                budget.take(class, frame.len(), Instant::now())
            };
            match taken {
                Ok(()) => break Some(FrameEvent::Frame(frame)),
                Err(Over::Refused) => break Some(FrameEvent::Refused(class)),
                Err(Over::Wait(wait)) => {
                    if reported.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        reported = Some(Instant::now());
                        if to
                            .send((peer, FrameEvent::OverBudget(class)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    // A validator's stream carries its votes too: waiting would hold them
                    // behind its gossip, so what is over budget is dropped (transactions
                    // are asked for again when a proposal names them). An observer's
                    // stream waits, and TCP slows the observer down.
                    if wait == Duration::MAX || validator {
                        break None;
                    }
                    tokio::time::sleep(wait.min(Duration::from_secs(10))).await;
                }
            }
        };
        if let Some(event) = event
            && to.send((peer, event)).await.is_err()
        {
            return;
        }
    }
}
