//! State snapshots (`ledger::snapshot`), two ways, picked by the first byte:
//!
//! * model: a set of accounts (deep shared prefixes included) is cut into chunks of an
//!   arbitrary size; the manifest verifies against the header of that state, every chunk
//!   verifies and gives back exactly its accounts, in order, and any one flipped bit of a
//!   chunk, or a chunk given as another's, is refused;
//! * bytes (a u16 length, a manifest, a chunk): a manifest decodes only from its canonical encoding, and checking it against a
//!   header built to match its claims never panics; when it passes, its chunk list is a
//!   real partition (canonical, non-empty, increasing), and a chunk decoded from the rest of
//!   the input that passes holds sorted accounts under its prefix.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use ledger::codec::{Encode, Limits, decode_exact};
use ledger::snapshot::{Manifest, decode_chunk, encode_chunk};
use ledger::state::tree::AccountTree;
use ledger::state::{SystemState, state_root};
use ledger::{Account, BlockHeader, Hash, PublicKey};
use libfuzzer_sys::fuzz_target;

fn key(sel: u16) -> PublicKey {
    if sel % 2 == 0 {
        PublicKey(*blake3::hash(&sel.to_le_bytes()).as_bytes())
    } else {
        // a long shared prefix: deep subtrees, chunks cut far down
        let mut k = [0xa5u8; 32];
        k[30] = (sel >> 8) as u8;
        k[31] = sel as u8;
        PublicKey(k)
    }
}

fn header(height: u64, accounts_root: &Hash, system: &SystemState) -> BlockHeader {
    BlockHeader {
        chain_id: Hash([1; 32]),
        height,
        parent: Hash([2; 32]),
        timestamp_ms: 0,
        proposer: PublicKey([0; 32]),
        tx_root: Hash::ZERO,
        receipts_root: Hash::ZERO,
        state_root: state_root(accounts_root, &system.hash()),
        validators_hash: Hash::ZERO,
    }
}

#[derive(Arbitrary, Debug)]
struct Model {
    accounts: Vec<(u16, u16)>,
    chunk_accounts: u8,
    flip_chunk: u8,
    flip_bit: u32,
}

fn model(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let m = Model::arbitrary(u)?;
    let mut accts: Vec<(PublicKey, Account)> = m
        .accounts
        .iter()
        .map(|(k, b)| {
            (
                key(*k),
                Account {
                    balance: u128::from(*b) + 1,
                    nonce: 0,
                    roles: 0,
                },
            )
        })
        .collect();
    accts.sort_by_key(|a| a.0);
    accts.dedup_by_key(|a| a.0);
    let tree = AccountTree::from_sorted(&accts);
    let system = SystemState::default();
    let h = header(7, &tree.root(), &system);
    let (manifest, bodies) = Manifest::of(&h, &tree, &system, usize::from(m.chunk_accounts));
    manifest.verify(&h).expect("an honest manifest verifies");
    let decoded: Manifest = decode_exact(&manifest.encode(), Limits::default()).expect("decodes");
    assert_eq!(decoded, manifest);
    let mut all = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let got = manifest
            .verify_chunk(i, &encode_chunk(body))
            .expect("an honest chunk verifies");
        assert_eq!(&got, body);
        all.extend(got);
    }
    assert_eq!(all, accts, "the chunks are exactly the accounts, in order");
    if !bodies.is_empty() {
        let i = usize::from(m.flip_chunk) % bodies.len();
        let mut bytes = encode_chunk(&bodies[i]);
        let bit = m.flip_bit as usize % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        assert!(
            manifest.verify_chunk(i, &bytes).is_err(),
            "a chunk with bit {bit} flipped verified"
        );
        if bodies.len() > 1 {
            let other = (i + 1) % bodies.len();
            assert!(
                manifest
                    .verify_chunk(other, &encode_chunk(&bodies[i]))
                    .is_err()
            );
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let _ = model(&mut Unstructured::new(rest));
        return;
    }
    // bytes: a u16 LE manifest length, the manifest, then a chunk
    let Some((len, rest)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let split = rest.len().min(usize::from(u16::from_le_bytes(*len)));
    let (mbytes, cbytes) = rest.split_at(split);
    let Ok(mut manifest) = decode_exact::<Manifest>(mbytes, Limits::default()) else {
        return;
    };
    assert_eq!(
        manifest.encode(),
        mbytes,
        "a manifest decoded from non-canonical bytes"
    );
    let h = header(manifest.height, &manifest.accounts_root, &manifest.system);
    manifest.block = h.id();
    if manifest.verify(&h).is_ok() {
        assert!(
            manifest
                .chunks
                .iter()
                .all(|c| c.count > 0 && c.prefix.len <= 256)
        );
        assert!(
            manifest
                .chunks
                .windows(2)
                .all(|w| w[0].prefix.bits < w[1].prefix.bits)
        );
        if let Ok(accts) = manifest.verify_chunk(0, cbytes) {
            let info = manifest.chunks[0];
            assert!(accts.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(accts.iter().all(|(k, _)| info.prefix.covers(k)));
            assert_eq!(accts.len(), info.count as usize);
        }
    }
    if let Ok(accts) = decode_chunk(cbytes) {
        assert_eq!(
            encode_chunk(&accts),
            cbytes,
            "a chunk decoded from non-canonical bytes"
        );
    }
});
