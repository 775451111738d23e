//! Compiles `data/common-passwords.txt` into a perfect-hash set, so screening a password is one
//! hash lookup with no start-up cost, whatever the list's size.
//!
//! Only entries of at least 8 characters are compiled in: registration refuses anything shorter
//! by length already (`PASSWORD_MIN_LENGTH` cannot go below 8), so storing them would only make
//! the binary bigger. `blocklist::tests` proves every listed password is still refused.

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let list = "data/common-passwords.txt";
    println!("cargo::rerun-if-changed={list}");
    let text = std::fs::read_to_string(list)?;
    let mut set = phf_codegen::Set::new();
    const SHORTEST_ALLOWED_PASSWORD: usize = 8;
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| l.chars().count() >= SHORTEST_ALLOWED_PASSWORD)
    {
        set.entry(line);
    }
    let out = std::path::Path::new(&std::env::var("OUT_DIR")?).join("common_passwords.rs");
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    writeln!(
        file,
        "/// The common-password list (see `data/README.md`).\nstatic COMMON_PASSWORDS: phf::Set<&'static str> = {};",
        set.build()
    )?;
    Ok(())
}
