//! Key-set tool. Reads and writes the JSON document that `JWT_KEYS_SECRET_ARN` / `JWT_KEYS_FILE`
//! point at (see `shared::keys`).
//!
//! ```text
//! keygen new [--alg RS256] [KID] a fresh key set with one signing key (Ed25519 by default)
//! keygen stage NEW_KID < set    adds key NEW_KID, verify-only for now (rotation step 1)
//! keygen promote KID < set      makes KID the signing key; others become verify-only (step 2)
//! keygen rotate NEW_KID < set   stage + promote at once (no overlap for verifier caches)
//! keygen retire OLD_KID < set   removes a verify-only key (its tokens stop verifying)
//! keygen public < set           the key set without private parts (safe to show); a master
//!                               secret (the stack-generated one) gives its derived public key
//! keygen public --secret ARN    the same, read from Secrets Manager (what `make deploy` passes
//!                               as `PublicKeySet`; the private part never leaves the process)
//! ```

use std::io::Read;
use std::process::ExitCode;

use shared::keys::{self, KeySet, KeySetDocument};

fn read_stdin_text() -> Result<String, String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("reading standard input: {e}"))?;
    Ok(text)
}

/// The key set in the secret `arn`, parsed as a function parses it at start. Read with the
/// operator's own credentials: `aws-config`'s default chains (profiles, SSO, the environment),
/// not the functions' configuration, which takes only the variables Lambda sets.
fn from_secret(arn: &str) -> Result<KeySet, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let text = runtime.block_on(async {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        aws_sdk_secretsmanager::Client::new(&sdk)
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot read the secret: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                )
            })?
            .secret_string
            .ok_or_else(|| "the secret has no SecretString".to_owned())
    })?;
    KeySet::parse(&text).map_err(|e| e.to_string())
}

fn read_stdin() -> Result<KeySetDocument, String> {
    let text = read_stdin_text()?;
    // Refuse to touch a document the functions would refuse to load.
    KeySet::parse(&text).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("not a key set document: {e}"))
}

fn default_kid() -> String {
    let secs = shared::unix_now();
    format!("k{secs}")
}

fn run(args: &[String]) -> Result<KeySetDocument, String> {
    let arg = |i: usize| args.get(i).cloned();
    match arg(1).as_deref() {
        Some("new") => {
            // `new [--alg EdDSA|RS256] [KID]`
            let (alg, kid) = match arg(2).as_deref() {
                Some("--alg") => {
                    let name = arg(3).ok_or("--alg needs EdDSA or RS256")?;
                    let alg = keys::KeyAlg::parse(&name).ok_or("--alg takes EdDSA or RS256")?;
                    (alg, arg(4))
                }
                _ => (keys::KeyAlg::EdDsa, arg(2)),
            };
            keys::generate_document_with(&kid.unwrap_or_else(default_kid), alg)
                .map_err(|e| e.to_string())
        }
        Some("stage") => keys::stage_key(&read_stdin()?, &arg(2).unwrap_or_else(default_kid))
            .map_err(|e| e.to_string()),
        Some("promote") => {
            let kid = arg(2).ok_or("promote needs the key id to sign with")?;
            keys::promote_key(&read_stdin()?, &kid).map_err(|e| e.to_string())
        }
        Some("rotate") => keys::rotate_document(&read_stdin()?, &arg(2).unwrap_or_else(default_kid))
            .map_err(|e| e.to_string()),
        Some("retire") => {
            let mut doc = read_stdin()?;
            let kid = arg(2).ok_or("retire needs the key id to remove")?;
            if kid == doc.signing_kid {
                return Err("cannot retire the signing key; rotate first".into());
            }
            let before = doc.keys.len();
            doc.keys.retain(|k| k.kid != kid);
            if doc.keys.len() == before {
                return Err(format!("no key {kid} in the set"));
            }
            Ok(doc)
        }
        Some("public") => {
            let set = match (arg(2).as_deref(), arg(3)) {
                (Some("--secret"), Some(arn)) => from_secret(&arn)?,
                (None, _) => KeySet::parse(&read_stdin_text()?).map_err(|e| e.to_string())?,
                _ => return Err("usage: keygen public [--secret ARN]".into()),
            };
            Ok(set.public_document())
        }
        _ => Err("usage: keygen new [--alg EdDSA|RS256] [KID] | stage NEW_KID | promote KID | rotate NEW_KID | retire OLD_KID | public [--secret ARN]  (key sets on stdin/stdout)".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match run(&args).and_then(|doc| serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keygen: {e}");
            ExitCode::FAILURE
        }
    }
}
