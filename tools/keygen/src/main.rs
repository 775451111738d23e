//! Key-set tool. Reads and writes the JSON document that `JWT_KEYS_SECRET_ARN` / `JWT_KEYS_FILE`
//! point at (see `shared::keys`): a key set in on stdin, the new one out on stdout.
//! `keygen --help` lists the commands; docs/keys.md has the rotation procedure.

use std::io::Read;
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use shared::keys::{self, KeyAlg, KeySet, KeySetDocument};

/// Creates and rotates signing key sets (key sets on stdin, the result on stdout).
#[derive(Debug, Parser)]
#[command(name = "keygen", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, PartialEq, Subcommand)]
enum Command {
    /// A fresh key set: one signing key and a random refresh secret
    New {
        /// The signing key's kind: EdDSA is Ed25519, RS256 is RSA 2048
        #[arg(long, default_value = "EdDSA", value_parser = alg_parser())]
        alg: KeyAlg,
        /// The signing key's id [default: k<unix time>]
        kid: Option<String>,
    },
    /// Rotation step 1: adds key NEW_KID, which verifies but does not sign yet
    Stage {
        /// The new key's id [default: k<unix time>]
        new_kid: Option<String>,
    },
    /// Rotation step 2: KID becomes the signing key; every other key only verifies
    Promote {
        /// The key to sign with
        kid: String,
    },
    /// Stage and promote at once (no overlap for verifiers' caches)
    Rotate {
        /// The new signing key's id [default: k<unix time>]
        new_kid: Option<String>,
    },
    /// Removes a verify-only key (tokens signed with it stop verifying)
    Retire {
        /// The key to remove; never the signing key
        old_kid: String,
    },
    /// The key set without private parts (safe to show)
    ///
    /// A master secret (the stack-generated kind) gives the public key derived from it.
    Public {
        /// Read the key set from this Secrets Manager secret instead of stdin (what `make
        /// deploy` passes as PublicKeySet; the private part never leaves the process)
        #[arg(long, value_name = "ARN")]
        secret: Option<String>,
    },
}

/// `--alg`, spelled as `JWT_ALG` spells it; the listed names show in `--help` and in the error.
fn alg_parser() -> impl TypedValueParser<Value = KeyAlg> {
    PossibleValuesParser::new(["EdDSA", "RS256"])
        .try_map(|name| KeyAlg::parse(&name).ok_or("EdDSA or RS256"))
}

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

fn run(command: Command) -> Result<KeySetDocument, String> {
    match command {
        Command::New { alg, kid } => {
            keys::generate_document_with(&kid.unwrap_or_else(default_kid), alg)
                .map_err(|e| e.to_string())
        }
        Command::Stage { new_kid } => {
            keys::stage_key(&read_stdin()?, &new_kid.unwrap_or_else(default_kid))
                .map_err(|e| e.to_string())
        }
        Command::Promote { kid } => {
            keys::promote_key(&read_stdin()?, &kid).map_err(|e| e.to_string())
        }
        Command::Rotate { new_kid } => {
            keys::rotate_document(&read_stdin()?, &new_kid.unwrap_or_else(default_kid))
                .map_err(|e| e.to_string())
        }
        Command::Retire { old_kid } => {
            let mut doc = read_stdin()?;
            if old_kid == doc.signing_kid {
                return Err("cannot retire the signing key; rotate first".into());
            }
            let before = doc.keys.len();
            doc.keys.retain(|k| k.kid != old_kid);
            if doc.keys.len() == before {
                return Err(format!("no key {old_kid} in the set"));
            }
            Ok(doc)
        }
        Command::Public { secret } => {
            let set = match secret {
                Some(arn) => from_secret(&arn)?,
                None => KeySet::parse(&read_stdin_text()?).map_err(|e| e.to_string())?,
            };
            Ok(set.public_document())
        }
    }
}

fn main() -> ExitCode {
    // A usage error or `--help` ends here, through clap (exit 2 or 0), before any key is made.
    let cli = Cli::parse();
    match run(cli.command)
        .and_then(|doc| serde_json::to_string_pretty(&doc).map_err(|e| e.to_string()))
    {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Command, ErrorKind> {
        Cli::try_parse_from(std::iter::once("keygen").chain(args.iter().copied()))
            .map(|cli| cli.command)
            .map_err(|e| e.kind())
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_invocations_of_the_scripts_and_docs_parse() {
        let kid = |k: &str| Some(k.to_owned());
        let cases = [
            (
                &["new"][..],
                Command::New {
                    alg: KeyAlg::EdDsa,
                    kid: None,
                },
            ),
            (
                &["new", "dev-key"],
                Command::New {
                    alg: KeyAlg::EdDsa,
                    kid: kid("dev-key"),
                },
            ),
            (
                &["new", "--alg", "RS256", "dev-rsa-key"],
                Command::New {
                    alg: KeyAlg::Rs256,
                    kid: kid("dev-rsa-key"),
                },
            ),
            (
                &["new", "dev-rsa-key", "--alg=RS256"],
                Command::New {
                    alg: KeyAlg::Rs256,
                    kid: kid("dev-rsa-key"),
                },
            ),
            (
                &["new", "--alg", "EdDSA"],
                Command::New {
                    alg: KeyAlg::EdDsa,
                    kid: None,
                },
            ),
            (
                &["stage", "2027-01-a"],
                Command::Stage {
                    new_kid: kid("2027-01-a"),
                },
            ),
            (&["stage"], Command::Stage { new_kid: None }),
            (
                &["promote", "2027-01-a"],
                Command::Promote {
                    kid: "2027-01-a".into(),
                },
            ),
            (&["rotate"], Command::Rotate { new_kid: None }),
            (
                &["retire", "old"],
                Command::Retire {
                    old_kid: "old".into(),
                },
            ),
            (&["public"], Command::Public { secret: None }),
            (
                &[
                    "public",
                    "--secret",
                    "arn:aws:secretsmanager:eu-west-1:1:secret:k",
                ],
                Command::Public {
                    secret: kid("arn:aws:secretsmanager:eu-west-1:1:secret:k"),
                },
            ),
            // A kid that looks like a flag has to be asked for explicitly.
            (
                &["new", "--", "--help"],
                Command::New {
                    alg: KeyAlg::EdDsa,
                    kid: kid("--help"),
                },
            ),
        ];
        for (args, expected) in cases {
            assert_eq!(parse(args), Ok(expected), "keygen {}", args.join(" "));
        }
    }

    #[test]
    fn help_is_a_request_for_help_on_every_command_not_a_kid() {
        for command in ["new", "stage", "promote", "rotate", "retire", "public"] {
            for flag in ["--help", "-h"] {
                assert_eq!(
                    parse(&[command, flag]),
                    Err(ErrorKind::DisplayHelp),
                    "{command} {flag}"
                );
            }
        }
        assert_eq!(parse(&["--help"]), Err(ErrorKind::DisplayHelp));
        assert_eq!(parse(&["help", "new"]), Err(ErrorKind::DisplayHelp));
    }

    #[test]
    fn bad_invocations_are_usage_errors() {
        let cases: [(&[&str], ErrorKind, &str); 9] = [
            (
                &[],
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand,
                "no command",
            ),
            (&["mint"], ErrorKind::InvalidSubcommand, "unknown command"),
            (
                &["new", "--bogus"],
                ErrorKind::UnknownArgument,
                "unknown flag",
            ),
            (
                &["new", "--alg", "HS256"],
                ErrorKind::InvalidValue,
                "unsupported alg",
            ),
            (
                &["new", "--alg"],
                ErrorKind::InvalidValue,
                "--alg without a value",
            ),
            (&["new", "a", "b"], ErrorKind::UnknownArgument, "two kids"),
            (
                &["promote"],
                ErrorKind::MissingRequiredArgument,
                "promote without a kid",
            ),
            (
                &["retire"],
                ErrorKind::MissingRequiredArgument,
                "retire without a kid",
            ),
            (
                &["public", "--secret"],
                ErrorKind::InvalidValue,
                "--secret without an ARN",
            ),
        ];
        for (args, kind, why) in cases {
            assert_eq!(parse(args), Err(kind), "{why}: keygen {}", args.join(" "));
        }
    }
}
