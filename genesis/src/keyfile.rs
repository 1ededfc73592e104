//! Key files: readable JSON holding an ed25519 key pair, written with mode 0600.
//!
//! ```json
//! { "type": "ed25519", "public_key": "0x…", "secret_key": "0x…" }
//! ```

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ledger::Keypair;
use serde::{Deserialize, Serialize};

/// The JSON shape of a key file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// Always `ed25519`.
    #[serde(rename = "type")]
    pub key_type: String,
    /// The public key, 0x-hex.
    pub public_key: String,
    /// The 32-byte secret (RFC 8032 seed), 0x-hex.
    pub secret_key: String,
    /// Present and true for dev keys derived from the public seed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file exists already (keys are never overwritten).
    #[error("{0} already exists; refusing to overwrite a key file")]
    Exists(String),
    /// An OS error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Group or others may read the file.
    #[error("{path} is readable by group or others (mode {mode:o}); run: chmod 600 {path}")]
    TooOpen {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The content is not a valid key file.
    #[error(
        "{path}: {problem}. The key file is damaged: restore it from your backup (a lost \
         validator key cannot be recreated; a new one must be added to the validator set)"
    )]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

/// Write `key` to a new file at `path` with mode 0600.
pub fn write_key_file(path: &Path, key: &Keypair, insecure: bool) -> Result<(), KeyFileError> {
    let shown = path.display().to_string();
    let doc = KeyFile {
        key_type: "ed25519".to_owned(),
        public_key: key.public().to_hex(),
        secret_key: format!("0x{}", hex::encode(key.secret())),
        insecure,
    };
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeyFileError::Exists(shown.clone()),
            _ => KeyFileError::Io {
                path: shown.clone(),
                source: e,
            },
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| crate::durable::sync_parent(path))
        .map_err(|e| KeyFileError::Io {
            path: shown,
            source: e,
        })
}

/// Read a key file, refusing files others can read and files whose public key does not
/// match the secret.
pub fn read_key_file(path: &Path) -> Result<Keypair, KeyFileError> {
    let shown = path.display().to_string();
    let io = |e| KeyFileError::Io {
        path: shown.clone(),
        source: e,
    };
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen { path: shown, mode });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let invalid = |problem: String| KeyFileError::Invalid {
        path: shown.clone(),
        problem,
    };
    let doc: KeyFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if doc.key_type != "ed25519" {
        return Err(invalid(format!(
            "type {:?} is not supported (ed25519)",
            doc.key_type
        )));
    }
    let secret = ledger::keys::parse_hex::<32>(&doc.secret_key)
        .map_err(|e| invalid(format!("secret_key: {e}")))?;
    let key = Keypair::from_secret(secret);
    if key.public().to_hex() != doc.public_key.to_lowercase() {
        return Err(invalid("public_key does not match secret_key".to_owned()));
    }
    Ok(key)
}
