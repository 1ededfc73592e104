//! Finality proofs as stored with every block and served to syncing nodes: decode only
//! from the canonical encoding; the link checks and the certificate check (signers sorted,
//! known, quorum) run on anything that decodes.
#![no_main]

use consensus::{PublicKey, Signature, ValidatorInfo, ValidatorSet, Verifier};
use libfuzzer_sys::fuzz_target;
use node::wire::FinalityProof;

/// Accepts signatures whose first byte is even, so the fuzzer reaches the quorum rule.
struct Lenient;

impl Verifier for Lenient {
    fn verify(&self, _key: &PublicKey, _message: &[u8], signature: &Signature) -> bool {
        signature.0[0] % 2 == 0
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(proof) = FinalityProof::decode(data) else {
        return;
    };
    let bytes = proof.encode();
    assert_eq!(
        bytes, data,
        "a finality proof decoded from bytes that are not its encoding"
    );
    assert_eq!(
        FinalityProof::decode(&bytes).expect("an encoding decodes"),
        proof
    );
    if proof.by_re_proposal() {
        assert!(proof.closes());
    }
    let set = ValidatorSet::new(
        (0..4u8)
            .map(|i| ValidatorInfo {
                key: PublicKey([i + 1; 32]),
                power: 1 + u64::from(i),
            })
            .collect(),
    )
    .expect("a set");
    if proof.certificate.verify(&set, &[0; 32], &Lenient).is_ok() {
        let mut power = 0;
        let mut last = None;
        for (signer, sig) in &proof.certificate.signatures {
            assert!(last < Some(*signer), "signers not strictly increasing");
            last = Some(*signer);
            assert!(sig.0[0] % 2 == 0);
            power += set.power(*signer);
        }
        assert!(power >= set.quorum());
    }
});
