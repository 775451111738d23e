//! Operator tool for the users table, with the caller's own AWS credentials. No HTTP route can
//! make the first admin; this can:
//!
//! ```text
//! authctl grant <username> <role>    adds an explicit role
//! authctl revoke <username> <role>   removes one
//! authctl show <username>            the user as the admin API shows it
//! ```
//!
//! Reads `USERS_TABLE` (and `SESSIONS_TABLE`, unused) and the usual AWS settings; honours
//! `AWS_ENDPOINT_URL_DYNAMODB` for the local stack (`make grant USER=... ROLE=...`). Each change
//! is a conditional write on the user as read, so a user deleted meanwhile is reported, not
//! re-created. A role takes effect at the user's next login or refresh.

use std::process::ExitCode;

use shared::admin::UserView;
use shared::config::{Table, Tables, Vars};
use shared::roles::{IMPLICIT_ROLE, MAX_ROLES, is_role_name};
use shared::store::dynamo::DynamoStore;
use shared::store::{AccessChange, UserStore};
use shared::validation::Username;

const USAGE: &str = "usage: authctl grant|revoke <username> <role> | authctl show <username>";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()).await {
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

async fn run(args: Vec<String>) -> Result<String, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (command, name, role) = match args.as_slice() {
        ["show", name] => ("show", *name, None),
        [cmd @ ("grant" | "revoke"), name, role] => (*cmd, *name, Some(*role)),
        _ => return Err(USAGE.into()),
    };
    let key = Username::parse(name)
        .map_err(|e| format!("username {e}"))?
        .key();
    if let Some(role) = role {
        if !is_role_name(role) {
            return Err(format!(
                "{role:?} is not a role name (^[a-z][a-z0-9_-]{{0,31}}$)"
            ));
        }
        if role == IMPLICIT_ROLE {
            return Err(format!("every user holds {IMPLICIT_ROLE:?} already"));
        }
    }
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
    let updated = match (command, role) {
        ("show", _) => user,
        (cmd, Some(role)) => {
            let mut roles = user.roles.clone();
            roles.retain(|r| r != role);
            if cmd == "grant" {
                roles.push(role.to_owned());
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
        _ => return Err(USAGE.into()),
    };
    serde_json::to_string_pretty(&UserView::from(updated)).map_err(|e| e.to_string())
}
