//! Round trips of generated values: for any value (`arbitrary`), decode(encode(v)) is v and
//! encodes to the same bytes, unless the value breaks a size limit, which decoding must
//! then name. Together with the decoder targets (decode only from the canonical encoding)
//! this makes every encoding a bijection on the values within the limits.
#![no_main]

use arbitrary::Arbitrary;
use consensus::Vote;
use ledger::codec::{DecodeError, Limits, Reader};
use ledger::state::tree::TreeProof;
use ledger::{Block, BlockHeader, Receipt, SignedTransaction, SystemState, Transaction};
use libfuzzer_sys::fuzz_target;
use node::wire::{FinalityProof, Request, Response, WireError};
use palisade_fuzz::round_trip;

#[derive(Arbitrary, Debug)]
enum Value {
    Tx(Transaction),
    Signed(SignedTransaction),
    Header(BlockHeader),
    Block(Block),
    Receipt(Receipt),
    System(SystemState),
    Proof(TreeProof),
    Vote(Vote),
    Request(Request),
    Response(Response),
    Finality(FinalityProof),
}

fn limit_only(e: &DecodeError) -> bool {
    matches!(e, DecodeError::TooLong { .. })
}

fn wire_limit_only(e: &WireError) -> bool {
    matches!(
        e,
        WireError::TooLarge { .. } | WireError::Decode(DecodeError::TooLong { .. })
    )
}

fuzz_target!(|value: Value| {
    let limits = Limits::default();
    match value {
        Value::Tx(v) => round_trip(&v, limits, limit_only),
        Value::Signed(v) => round_trip(&v, limits, limit_only),
        Value::Header(v) => round_trip(&v, limits, limit_only),
        Value::Block(v) => round_trip(&v, limits, limit_only),
        Value::Receipt(v) => round_trip(&v, limits, limit_only),
        Value::System(v) => round_trip(&v, limits, limit_only),
        Value::Proof(v) => round_trip(&v, limits, limit_only),
        Value::Vote(v) => {
            let mut bytes = Vec::new();
            node::wire::encode_vote(&v, &mut bytes);
            let mut r = Reader::new(&bytes, limits);
            assert_eq!(node::wire::decode_vote(&mut r).expect("a vote decodes"), v);
            r.finish().expect("a vote fills its bytes");
            // and its safety-log record reads back
            let (state, good) = node::safety_log::read_records(&node::safety_log::record(&v))
                .expect("a record reads back");
            assert_eq!(good, bytes.len() + 10);
            assert!(matches!(
                state.check(&v.kind, None),
                consensus::safety::Decision::AlreadySigned(w) if w == v
            ));
        }
        Value::Request(v) => {
            let bytes = v.encode();
            match Request::decode(&bytes, limits) {
                Ok(back) => {
                    assert_eq!(back, v);
                    assert_eq!(back.encode(), bytes);
                }
                Err(e) => assert!(wire_limit_only(&e), "{v:?} fails to decode: {e}"),
            }
        }
        Value::Response(v) => {
            let bytes = v.encode();
            match Response::decode(&bytes, limits) {
                // a refusal's reason is cut to MAX_REFUSAL_BYTES on the wire
                Ok(Response::Refused(why)) => match &v {
                    Response::Refused(sent) => {
                        assert_eq!(why, node::wire::refusal_text(sent));
                    }
                    other => panic!("{other:?} came back as a refusal"),
                },
                Err(e) if matches!(v, Response::Refused(_)) => {
                    panic!("a refusal fails to decode: {e}")
                }
                Ok(back) => {
                    assert_eq!(back, v);
                    assert_eq!(back.encode(), bytes);
                }
                Err(e) => assert!(wire_limit_only(&e), "{v:?} fails to decode: {e}"),
            }
        }
        Value::Finality(v) => {
            let bytes = v.encode();
            match FinalityProof::decode(&bytes) {
                Ok(back) => assert_eq!(back, v),
                Err(e) => assert!(wire_limit_only(&e), "{v:?} fails to decode: {e}"),
            }
        }
    }
});
