//! Compiles `data/common-passwords.txt` into a sorted table, so screening a password is a binary
//! search with no start-up cost, whatever the list's size.
//!
//! Only entries of at least 8 characters are compiled in: registration refuses anything shorter
//! by length already (`PASSWORD_MIN_LENGTH` cannot go below 8), so storing them would only make
//! the binary bigger. `blocklist::tests` proves every listed password is still refused.
//!
//! The table is one string of the entries back to back and the offset where each ends, not a set
//! of `&str`: every `&str` in a static is a pointer that the dynamic loader relocates, and so
//! writes, at every cold start. As a `phf::Set<&str>` the list made 11,000 of them, 170 KiB of
//! pages copied before `main` in each function that screens passwords (`docs/performance.md`).

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let list = "data/common-passwords.txt";
    println!("cargo::rerun-if-changed={list}");
    let text = std::fs::read_to_string(list)?;
    const SHORTEST_ALLOWED_PASSWORD: usize = 8;
    let mut entries: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.chars().count() >= SHORTEST_ALLOWED_PASSWORD)
        .collect();
    entries.sort_unstable();
    entries.dedup();
    let mut ends = Vec::with_capacity(entries.len());
    let mut joined = String::new();
    for entry in &entries {
        joined.push_str(entry);
        ends.push(u32::try_from(joined.len())?);
    }
    let out = std::path::Path::new(&std::env::var("OUT_DIR")?).join("common_passwords.rs");
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    writeln!(
        file,
        "/// The common-password list (see `data/README.md`), sorted, back to back.\n\
         static COMMON_PASSWORDS: &str = {joined:?};\n\
         /// Where each entry of [`COMMON_PASSWORDS`] ends.\n\
         static COMMON_PASSWORD_ENDS: [u32; {}] = {ends:?};",
        ends.len()
    )?;
    Ok(())
}
