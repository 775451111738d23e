//! Operator tool for the users table, with the caller's own AWS credentials. No HTTP route can
//! make the first admin; this can (`authctl --help` lists the commands).
//!
//! Reads `USERS_TABLE` (and `SESSIONS_TABLE`, unused) and the usual AWS settings; honours
//! `AWS_ENDPOINT_URL_DYNAMODB` for the local stack (`make grant USER=... ROLE=...`). Each change
//! is a conditional write on the user as read, so a user deleted meanwhile is reported, not
//! re-created. A role takes effect at the user's next login or refresh.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use shared::admin::UserView;
use shared::config::{Table, Tables, Vars};
use shared::roles::{IMPLICIT_ROLE, MAX_ROLES, is_role_name};
use shared::store::dynamo::DynamoStore;
use shared::store::{AccessChange, UserStore};
use shared::validation::Username;

/// Grants and revokes roles, enables users and shows them, straight on the users table
/// (USERS_TABLE): the operator's way back in when no admin can act
#[derive(Debug, Parser)]
#[command(name = "authctl", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, PartialEq, Subcommand)]
enum Command {
    /// Adds an explicit role; it takes effect at the user's next login or refresh
    Grant(RoleChange),
    /// Removes an explicit role
    Revoke(RoleChange),
    /// Enables a disabled user (disabling is the admin API's: it also ends their sessions)
    Enable {
        /// The username, in any case (usernames are unique without regard to case)
        #[arg(value_parser = Username::parse)]
        username: Username,
    },
    /// Shows the user as the admin API shows it
    Show {
        /// The username, in any case (usernames are unique without regard to case)
        #[arg(value_parser = Username::parse)]
        username: Username,
    },
}

#[derive(Args, Debug, PartialEq)]
struct RoleChange {
    /// The username, in any case (usernames are unique without regard to case)
    #[arg(value_parser = Username::parse)]
    username: Username,
    /// A role name (^[a-z][a-z0-9_-]{0,31}$), not the implicit one every user holds
    #[arg(value_parser = parse_role)]
    role: String,
}

/// A role that can be granted or revoked: a role name, and not the one every user holds.
fn parse_role(role: &str) -> Result<String, String> {
    if !is_role_name(role) {
        return Err(format!(
            "{role:?} is not a role name (^[a-z][a-z0-9_-]{{0,31}}$)"
        ));
    }
    if role == IMPLICIT_ROLE {
        return Err(format!("every user holds {IMPLICIT_ROLE:?} already"));
    }
    Ok(role.to_owned())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // A usage error or `--help` ends here, through clap (exit 2 or 0), before any table is read.
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("authctl: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<String, String> {
    let tables = Tables::from_vars(&Vars::env(), &[Table::Users]).map_err(|e| e.to_string())?;
    // The operator's credentials through aws-config's default chains (profiles, SSO, the
    // environment), not the functions' configuration, which takes only Lambda's variables.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), tables);
    apply(command, &store).await
}

/// Carries out `command` on `users`: the user as it is afterwards, as JSON.
async fn apply(command: Command, users: &dyn UserStore) -> Result<String, String> {
    let (username, role) = match &command {
        Command::Show { username } | Command::Enable { username } => (username, None),
        Command::Grant(change) => (&change.username, Some((change.role.as_str(), true))),
        Command::Revoke(change) => (&change.username, Some((change.role.as_str(), false))),
    };
    let name = username.as_ref();
    let key = username.key();
    let user = users
        .find(&key)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user {name}"))?;
    let change = match (&command, role) {
        (Command::Show { .. }, _) => None,
        (Command::Enable { .. }, _) => Some(AccessChange {
            roles: None,
            disabled: Some(false),
        }),
        (_, Some((role, grant))) => {
            let mut roles = user.roles.clone();
            roles.retain(|r| r != role);
            if grant {
                roles.push(role.to_owned());
            }
            roles.sort();
            if roles.len() > MAX_ROLES {
                return Err(format!("a user holds at most {MAX_ROLES} roles"));
            }
            Some(AccessChange {
                roles: Some(roles),
                disabled: None,
            })
        }
        (_, None) => None,
    };
    let updated = match change {
        None => user,
        Some(change) => {
            let written = users
                .update_access(&key, user.user_id.as_deref(), &change)
                .await
                .map_err(|e| e.to_string())?;
            if !written {
                return Err(format!("{name} was deleted or replaced meanwhile"));
            }
            change.applied_to(user)
        }
    };
    serde_json::to_string_pretty(&UserView::from(updated)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Command, ErrorKind> {
        Cli::try_parse_from(std::iter::once("authctl").chain(args.iter().copied()))
            .map(|cli| cli.command)
            .map_err(|e| e.kind())
    }

    fn user(name: &str) -> Username {
        Username::parse(name).unwrap()
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_invocations_of_make_grant_and_the_tests_parse() {
        let cases = [
            (
                &["grant", "Alice.B", "admin"][..],
                Command::Grant(RoleChange {
                    username: user("Alice.B"),
                    role: "admin".into(),
                }),
            ),
            (
                &["revoke", "alice", "support-2"],
                Command::Revoke(RoleChange {
                    username: user("alice"),
                    role: "support-2".into(),
                }),
            ),
            (
                &["show", "alice"],
                Command::Show {
                    username: user("alice"),
                },
            ),
            (
                &["enable", "Alice"],
                Command::Enable {
                    username: user("Alice"),
                },
            ),
        ];
        for (args, expected) in cases {
            assert_eq!(parse(args), Ok(expected), "authctl {}", args.join(" "));
        }
    }

    #[test]
    fn help_is_a_request_for_help_on_every_command_not_a_username() {
        for command in ["grant", "revoke", "show", "enable"] {
            for flag in ["--help", "-h"] {
                assert_eq!(
                    parse(&[command, flag]),
                    Err(ErrorKind::DisplayHelp),
                    "{command} {flag}"
                );
            }
        }
        assert_eq!(parse(&["--help"]), Err(ErrorKind::DisplayHelp));
    }

    #[test]
    fn bad_invocations_are_usage_errors_before_any_table_is_read() {
        let cases: [(&[&str], ErrorKind, &str); 9] = [
            (
                &[],
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand,
                "no command",
            ),
            (
                &["delete", "alice"],
                ErrorKind::InvalidSubcommand,
                "unknown command",
            ),
            (
                &["show", "alice", "--bogus"],
                ErrorKind::UnknownArgument,
                "unknown flag",
            ),
            (
                &["show", "alice", "admin"],
                ErrorKind::UnknownArgument,
                "show takes no role",
            ),
            (
                &["grant", "alice"],
                ErrorKind::MissingRequiredArgument,
                "grant without a role",
            ),
            (
                &["show", "al"],
                ErrorKind::ValueValidation,
                "username too short",
            ),
            (
                &["grant", "al ice", "admin"],
                ErrorKind::ValueValidation,
                "username charset",
            ),
            (
                &["grant", "alice", "Admin"],
                ErrorKind::ValueValidation,
                "not a role name",
            ),
            (
                &["revoke", "alice", IMPLICIT_ROLE],
                ErrorKind::ValueValidation,
                "the implicit role",
            ),
        ];
        for (args, kind, why) in cases {
            assert_eq!(parse(args), Err(kind), "{why}: authctl {}", args.join(" "));
        }
    }

    /// The operator's way back in: a disabled admin is enabled again, and a role revoked, on
    /// the local DynamoDB-compatible server (`make test` starts it).
    #[tokio::test]
    async fn an_operator_recovers_a_disabled_admin_and_revokes_a_role() {
        let f = shared::testing::Fixture::local().await;
        let name = shared::testing::unique("locked_");
        shared::testing::create_user(
            f.store().as_ref(),
            &name,
            "correct horse battery",
            &["admin"],
        )
        .await;
        shared::testing::set_disabled(f.store().as_ref(), &name, true).await;
        let store = f.store();

        let enabled = apply(parse(&["enable", &name]).unwrap(), store.as_ref()).await;
        let revoked = apply(parse(&["revoke", &name, "admin"]).unwrap(), store.as_ref()).await;

        let enabled: serde_json::Value = serde_json::from_str(&enabled.unwrap()).unwrap();
        assert_eq!(enabled["disabled"], false, "{enabled}");
        assert_eq!(enabled["roles"], serde_json::json!(["admin"]));
        let revoked: serde_json::Value = serde_json::from_str(&revoked.unwrap()).unwrap();
        assert_eq!(revoked["roles"], serde_json::json!([]), "{revoked}");
        let stored = store.find(&name.to_lowercase()).await.unwrap().unwrap();
        assert!(!stored.disabled && stored.roles.is_empty());
        assert_eq!(
            apply(parse(&["enable", "nobody_here"]).unwrap(), store.as_ref()).await,
            Err("no user nobody_here".into())
        );
    }
}
