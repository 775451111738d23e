//! What the checks share: the files at the root of the repository.

use std::path::PathBuf;

/// The root of the repository, above this crate.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The text of `name`, a file at the root of the repository.
pub fn read(name: &str) -> String {
    std::fs::read_to_string(root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}
