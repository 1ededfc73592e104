//! The frame reader on a peer's stream: any byte stream yields frames of at most the limit,
//! then a clean error; it never allocates for a length the bytes do not back. Each frame
//! goes on through the request decoder, as the node does.
#![no_main]

use std::sync::OnceLock;

use ledger::Limits;
use libfuzzer_sys::fuzz_target;
use node::wire::Request;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&m, stream)) = data.split_first() else {
        return;
    };
    // a small limit (the fuzzer reaches it) or the real request limit
    let max = if m & 1 == 0 {
        64 + m as usize * 4
    } else {
        node::wire::MAX_REQUEST_BYTES
    };
    runtime().block_on(async {
        let mut io = futures::io::Cursor::new(stream);
        let mut read = 0usize;
        for _ in 0..1_000 {
            match node::p2p::read_frame(&mut io, max).await {
                Ok(frame) => {
                    assert!(frame.len() <= max);
                    read += 4 + frame.len();
                    assert!(read <= stream.len(), "a frame longer than its bytes");
                    let _ = Request::decode(&frame, Limits::default());
                }
                Err(_) => break,
            }
        }
    });
});
