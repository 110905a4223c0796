//! Installed modules, kept by their SHA-256 so a checkpoint or a journal
//! record can name the code it runs.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A directory of wasm modules named by hash.
pub struct Modules {
    dir: PathBuf,
}

/// A module hash in lowercase hex, as module file names have it.
pub fn hex(hash: &[u8; 32]) -> String {
    hex::encode(hash)
}

impl Modules {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned() }
    }

    /// Stores `wasm`; returns its hash.
    pub fn put(&self, wasm: &[u8]) -> io::Result<[u8; 32]> {
        let hash: [u8; 32] = Sha256::digest(wasm).into();
        let path = self.dir.join(format!("{}.wasm", hex(&hash)));
        if !path.exists() {
            fs::create_dir_all(&self.dir)?;
            let tmp = path.with_extension("tmp");
            fs::write(&tmp, wasm)?;
            fs::File::open(&tmp)?.sync_all()?;
            fs::rename(&tmp, &path)?;
            super::sync_dir(&self.dir)?;
        }
        Ok(hash)
    }

    /// The module with `hash`, verified.
    pub fn get(&self, hash: &[u8; 32]) -> io::Result<Vec<u8>> {
        let path = self.dir.join(format!("{}.wasm", hex(hash)));
        let wasm = fs::read(&path).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot read module {}: {e}", path.display()))
        })?;
        if Sha256::digest(&wasm)[..] != hash[..] {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("module {} is corrupted", path.display()),
            ));
        }
        Ok(wasm)
    }
}
