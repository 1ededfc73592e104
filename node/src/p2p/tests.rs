use std::sync::RwLock;

use crate::wire::{MAX_PUSH_FRAME_BYTES, MAX_REQUEST_BYTES};

use super::frames::*;
use super::*;

#[test]
fn ipv6_addresses_of_one_slash_64_count_as_one() {
    let a: Multiaddr = "/ip6/2001:db8:1:2::5/tcp/1".parse().expect("addr");
    let b: Multiaddr = "/ip6/2001:db8:1:2:ffff::9/tcp/2".parse().expect("addr");
    let c: Multiaddr = "/ip6/2001:db8:1:3::5/tcp/1".parse().expect("addr");
    let d: Multiaddr = "/ip4/10.0.0.1/tcp/1".parse().expect("addr");
    assert_eq!(ip_of(&a), ip_of(&b));
    assert_ne!(ip_of(&a), ip_of(&c));
    assert_eq!(
        ip_of(&d),
        Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)))
    );
}

fn budget(validator: bool) -> SharedBudget {
    Arc::new(std::sync::Mutex::new(PeerBudget::new(validator)))
}

#[tokio::test]
async fn a_frame_costs_the_bytes_that_arrived_not_the_length_announced() {
    // announces the largest frame, sends three bytes and ends
    let mut bytes = u32::try_from(MAX_PUSH_FRAME_BYTES)
        .unwrap_or(u32::MAX)
        .to_le_bytes()
        .to_vec();
    bytes.extend_from_slice(b"abc");
    let mut io = futures::io::Cursor::new(bytes);
    let err = read_frame(&mut io, MAX_PUSH_FRAME_BYTES)
        .await
        .expect_err("cut short");
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    // a request over the request limit is refused before any of it is read
    let mut bytes = u32::try_from(MAX_REQUEST_BYTES + 1)
        .unwrap_or(u32::MAX)
        .to_le_bytes()
        .to_vec();
    bytes.extend_from_slice(&[0u8; 16]);
    let mut io = futures::io::Cursor::new(bytes);
    let err = read_frame(&mut io, MAX_REQUEST_BYTES)
        .await
        .expect_err("over the limit");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert_eq!(io.position(), 4, "nothing past the length was read");
}

#[tokio::test]
async fn a_validator_over_budget_loses_the_excess_without_holding_its_votes() {
    let peer = PeerId::random();
    let status = crate::wire::Request::Status {
        finalized_height: 9,
    }
    .encode();
    let mut bytes = Vec::new();
    // a validator may send 40 statuses at once, then 20 a second
    for _ in 0..100 {
        push_frame(&mut bytes, &status);
    }
    let (tx, mut rx) = mpsc::channel(256);
    let validators: ValidatorSet = Arc::new(RwLock::new(HashSet::from([peer])));
    let t = std::time::Instant::now();
    read_frames(
        peer,
        futures::io::Cursor::new(bytes),
        tx,
        validators,
        budget(true),
    )
    .await;
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    let mut frames = 0;
    let mut over = 0;
    while let Some((_, event)) = rx.recv().await {
        match event {
            FrameEvent::Frame(_) => frames += 1,
            FrameEvent::OverBudget(Class::Status) => over += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!((40..45).contains(&frames), "{frames}");
    assert_eq!(over, 1, "reported once a second at most");
}

#[tokio::test]
async fn a_frames_stream_delivers_each_frame_and_reports_one_over_the_limit() {
    let peer = PeerId::random();
    let mut bytes = Vec::new();
    push_frame(&mut bytes, b"first");
    push_frame(&mut bytes, b"");
    push_frame(&mut bytes, &[7u8; 3000]);
    // then a length over the limit, and bytes that must not be read as a frame
    let over = u32::try_from(MAX_PUSH_FRAME_BYTES + 1).unwrap_or(u32::MAX);
    bytes.extend_from_slice(&over.to_le_bytes());
    push_frame(&mut bytes, b"never");
    let (tx, mut rx) = mpsc::channel(16);
    let validators: ValidatorSet = Arc::new(RwLock::new(HashSet::from([peer])));
    read_frames(
        peer,
        futures::io::Cursor::new(bytes),
        tx,
        validators,
        budget(true),
    )
    .await;
    let mut got = Vec::new();
    while let Some((from, event)) = rx.recv().await {
        assert_eq!(from, peer);
        got.push(event);
    }
    // "first" and "" are no message this node reads: refused; then a consensus-sized
    // frame of an unknown kind, refused too; then the error
    assert_eq!(got.len(), 4, "three frames and one error: {got:?}");
    assert!(
        matches!(got[0], FrameEvent::Refused(Class::Unknown)),
        "{got:?}"
    );
    assert!(
        matches!(got[1], FrameEvent::Refused(Class::Unknown)),
        "{got:?}"
    );
    assert!(
        matches!(got[2], FrameEvent::Refused(Class::Unknown)),
        "{got:?}"
    );
    let FrameEvent::Malformed(e) = &got[3] else {
        panic!("{got:?}");
    };
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
}

#[tokio::test]
async fn a_frames_stream_delivers_what_the_peer_may_send_and_slows_a_flood() {
    let peer = PeerId::random();
    let status = crate::wire::Request::Status {
        finalized_height: 9,
    }
    .encode();
    let vote = vec![crate::wire::T_CONSENSUS, 0, 0];
    let mut bytes = Vec::new();
    push_frame(&mut bytes, &vote);
    // an observer may send 8 statuses at once, then 4 a second
    for _ in 0..10 {
        push_frame(&mut bytes, &status);
    }
    let (tx, mut rx) = mpsc::channel(64);
    let observer: ValidatorSet = Arc::default();
    let t = std::time::Instant::now();
    read_frames(
        peer,
        futures::io::Cursor::new(bytes),
        tx,
        observer,
        budget(false),
    )
    .await;
    let took = t.elapsed();
    let mut got = Vec::new();
    while let Some((_, event)) = rx.recv().await {
        got.push(event);
    }
    assert!(
        matches!(got[0], FrameEvent::Refused(Class::Consensus)),
        "{got:?}"
    );
    let frames = got
        .iter()
        .filter(|e| matches!(e, FrameEvent::Frame(f) if *f == status))
        .count();
    assert_eq!(frames, 10, "every status arrives, late: {got:?}");
    assert!(
        got.iter()
            .any(|e| matches!(e, FrameEvent::OverBudget(Class::Status))),
        "{got:?}"
    );
    // the ninth and tenth waited a quarter second each
    assert!(took >= Duration::from_millis(450), "{took:?}");
}

#[tokio::test]
async fn a_frames_stream_that_ends_mid_frame_reports_nothing_more() {
    let peer = PeerId::random();
    let mut bytes = Vec::new();
    push_frame(&mut bytes, b"whole");
    push_frame(&mut bytes, b"cut short");
    bytes.truncate(bytes.len() - 3);
    let (tx, mut rx) = mpsc::channel(16);
    read_frames(
        peer,
        futures::io::Cursor::new(bytes),
        tx,
        Arc::default(),
        budget(false),
    )
    .await;
    let first = rx.recv().await.map(|(_, f)| f);
    assert!(
        matches!(first, Some(FrameEvent::Refused(Class::Unknown))),
        "{first:?}"
    );
    // a connection that drops is not misbehaviour: no error is reported
    assert!(rx.recv().await.is_none());
}
