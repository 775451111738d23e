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

/// Grants and revokes roles and shows users, straight on the users table (USERS_TABLE)
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
    let (username, change) = match command {
        Command::Show { username } => (username, None),
        Command::Grant(RoleChange { username, role }) => (username, Some((role, true))),
        Command::Revoke(RoleChange { username, role }) => (username, Some((role, false))),
    };
    let name = username.as_ref();
    let key = username.key();
    let tables = Tables::from_vars(&Vars::env(), &[Table::Users]).map_err(|e| e.to_string())?;
    // The operator's credentials through aws-config's default chains (profiles, SSO, the
    // environment), not the functions' configuration, which takes only Lambda's variables.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), tables);
    let user = store
        .find(&key)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user {name}"))?;
    let updated = match change {
        None => user,
        Some((role, grant)) => {
            let mut roles = user.roles.clone();
            roles.retain(|r| *r != role);
            if grant {
                roles.push(role);
            }
            roles.sort();
            if roles.len() > MAX_ROLES {
                return Err(format!("a user holds at most {MAX_ROLES} roles"));
            }
            let change = AccessChange {
                roles: Some(roles),
                disabled: None,
            };
            store
                .update_access(&key, user.user_id.as_deref(), &change)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{name} was deleted or replaced meanwhile"))?
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
        ];
        for (args, expected) in cases {
            assert_eq!(parse(args), Ok(expected), "authctl {}", args.join(" "));
        }
    }

    #[test]
    fn help_is_a_request_for_help_on_every_command_not_a_username() {
        for command in ["grant", "revoke", "show"] {
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
}
