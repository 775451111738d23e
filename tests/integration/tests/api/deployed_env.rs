//! Every function starts with exactly the environment `template.yaml` gives it: each
//! function's `Settings::from_vars` is run on the variables of its template resource (the
//! Globals merged in, parameters at their defaults, or as a test chooses them). A variable a
//! function needs but the template forgets would otherwise show only as a failed cold start
//! after a deploy. And the local stack's SES verifies the sender the tests mail as.

use std::collections::BTreeMap;

use serde_norway::Value as Yaml;
use shared::config::Vars;

use crate::helpers::{functions, template};
use crate::stack::Stack;

/// Each function's variables (by binary) in `stack`, the Globals' merged in: a parameter's
/// value for `!Ref`, the branch of an `!If` its condition picks, and a stand-in for what only
/// CloudFormation knows (a resource's name or ARN, a `!Sub`, a `!GetAtt`).
fn environments_of(stack: &Stack<'_>, doc: &Yaml) -> BTreeMap<String, Vars> {
    let pairs = |vars: &Yaml| -> Vec<(String, String)> {
        let vars = stack.resolve(vars).unwrap_or(Yaml::Null);
        vars.as_mapping()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                let value = match v {
                    Yaml::String(s) => s.clone(),
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Tagged(t) if t.tag == "Ref" => {
                        format!("{}-deployed", t.value.as_str().unwrap())
                    }
                    Yaml::Tagged(_) => "resolved-by-cloudformation".to_owned(),
                    other => panic!("an environment value of an unexpected shape: {other:?}"),
                };
                (k.as_str().unwrap().to_owned(), value)
            })
            .collect()
    };
    let global = pairs(&doc["Globals"]["Function"]["Environment"]["Variables"]);
    functions(doc)
        .map(|(binary, resource)| {
            let mut all = global.clone();
            all.extend(pairs(&resource["Properties"]["Environment"]["Variables"]));
            (binary.to_owned(), Vars::from_pairs(all))
        })
        .collect()
}

/// [`environments_of`] the stack with these parameters chosen, the others at their defaults.
fn environments_with(doc: &Yaml, chosen: &[(&str, &str)]) -> BTreeMap<String, Vars> {
    let chosen: Vec<(String, String)> = chosen
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    environments_of(&Stack::new(doc, &chosen), doc)
}

/// The environments of the stack with every parameter at its default.
fn environments() -> BTreeMap<String, Vars> {
    let doc = template();
    environments_with(&doc, &[])
}

type Check = fn(&Vars) -> Result<(), String>;

fn ok<T>(r: Result<T, shared::config::ConfigError>) -> Result<(), String> {
    r.map(drop).map_err(|e| e.to_string())
}

/// Each function's settings, as its `main` reads them.
const CHECKS: [(&str, Check); 32] = [
    ("register", |v| ok(register::Settings::from_vars(v))),
    // The -session build runs the same handler.
    ("protected-session", |v| {
        ok(protected::Settings::from_vars(v))
    }),
    ("login", |v| ok(login::Settings::from_vars(v))),
    ("refresh", |v| ok(refresh::Settings::from_vars(v))),
    ("logout", |v| ok(logout::Settings::from_vars(v))),
    ("protected", |v| ok(protected::Settings::from_vars(v))),
    ("jwks", |v| ok(jwks::Settings::from_vars(v))),
    ("discovery", |v| ok(discovery::Settings::from_vars(v))),
    ("me", |v| ok(me::Settings::from_vars(v))),
    ("fallback", |v| ok(fallback::Settings::from_vars(v))),
    ("authorizer", |v| ok(authorizer::Settings::from_vars(v))),
    ("admin-get-user", |v| {
        ok(admin_get_user::Settings::from_vars(v))
    }),
    ("admin-update-user", |v| {
        ok(admin_update_user::Settings::from_vars(v))
    }),
    ("admin-end-sessions", |v| {
        ok(admin_end_sessions::Settings::from_vars(v))
    }),
    ("change-password", |v| {
        ok(change_password::Settings::from_vars(v))
    }),
    ("delete-account", |v| {
        ok(delete_account::Settings::from_vars(v))
    }),
    ("list-sessions", |v| {
        ok(list_sessions::Settings::from_vars(v))
    }),
    ("end-session", |v| ok(end_session::Settings::from_vars(v))),
    ("end-all-sessions", |v| {
        ok(end_all_sessions::Settings::from_vars(v))
    }),
    ("login-mfa", |v| ok(login_mfa::Settings::from_vars(v))),
    ("account", |v| ok(account::Settings::from_vars(v))),
    ("mfa-enroll", |v| ok(mfa_enroll::Settings::from_vars(v))),
    ("mfa-confirm", |v| ok(mfa_confirm::Settings::from_vars(v))),
    ("mfa-disable", |v| ok(mfa_disable::Settings::from_vars(v))),
    ("mfa-recovery-codes", |v| {
        ok(mfa_recovery_codes::Settings::from_vars(v))
    }),
    ("admin-remove-mfa", |v| {
        ok(admin_remove_mfa::Settings::from_vars(v))
    }),
    ("email-change", |v| ok(email_change::Settings::from_vars(v))),
    ("email-verify", |v| ok(email_verify::Settings::from_vars(v))),
    ("email-resend", |v| ok(email_resend::Settings::from_vars(v))),
    ("password-forgot", |v| {
        ok(password_forgot::Settings::from_vars(v))
    }),
    ("password-reset", |v| {
        ok(password_reset::Settings::from_vars(v))
    }),
    ("pages", |v| ok(pages::Settings::from_vars(v))),
];

/// What would fail at cold start in `envs`; every function of the template must be checked.
fn failures(envs: &BTreeMap<String, Vars>) -> Vec<String> {
    let mut expected: Vec<String> = CHECKS.iter().map(|(n, _)| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(
        envs.keys().cloned().collect::<Vec<_>>(),
        expected,
        "every function of the template is checked here"
    );
    CHECKS
        .iter()
        .filter_map(|(name, check)| check(&envs[*name]).err().map(|e| format!("{name}: {e}")))
        .collect()
}

#[test]
fn every_function_starts_with_the_environment_the_template_gives_it() {
    let failures = failures(&environments());
    assert!(
        failures.is_empty(),
        "would fail at cold start: {failures:#?}"
    );
}

/// The contact channel as a function with mail reads it at start (`Contact::from_env`): none
/// without `MAIL_FROM`, else its settings, or why it would refuse to start.
fn contact_of(vars: &Vars) -> Option<Result<shared::email::EmailSettings, String>> {
    vars.get("MAIL_FROM")?;
    Some(shared::email::EmailSettings::from_vars(vars).map_err(|e| e.to_string()))
}

/// A stack with mail: every function still starts, and each one given `MAIL_FROM` reads a
/// contact channel whose links point at `PublicBaseUrl`, else at `JwtIssuer`; a plain stack
/// (no `MailFrom`) gives none, so its functions start without mail.
#[test]
fn with_mail_the_senders_start_with_links_to_the_configured_base() {
    let doc = template();
    let plain = environments_with(&doc, &[]);
    for (name, vars) in &plain {
        assert!(contact_of(vars).is_none(), "{name}: mail in a plain stack");
    }
    let issuer = "https://abc123.execute-api.us-east-1.amazonaws.com";
    let cases: [(&[(&str, &str)], &str); 2] = [
        (
            &[
                ("MailFrom", "no-reply@example.com"),
                ("JwtIssuer", issuer),
                ("RequireEmail", "true"),
            ],
            issuer,
        ),
        (
            &[
                ("MailFrom", "no-reply@example.com"),
                ("PublicBaseUrl", "https://accounts.example.com"),
            ],
            "https://accounts.example.com",
        ),
    ];
    for (chosen, base) in cases {
        let envs = environments_with(&doc, chosen);
        let failures = failures(&envs);
        assert!(failures.is_empty(), "{chosen:?}: {failures:#?}");
        let mut senders = Vec::new();
        for (name, vars) in &envs {
            let Some(contact) = contact_of(vars) else {
                continue;
            };
            let settings = contact.unwrap_or_else(|e| panic!("{name} with {chosen:?}: {e}"));
            assert_eq!(settings.public_base_url, base, "{name}");
            assert_eq!(settings.mail_from, "no-reply@example.com", "{name}");
            senders.push(name.as_str());
        }
        for sender in [
            "register",
            "password-forgot",
            "password-reset",
            "email-change",
        ] {
            assert!(senders.contains(&sender), "{sender}: {senders:?}");
        }
        assert!(!senders.contains(&"email-verify"), "{senders:?}");
    }
}

/// The sender the tests mail as is one the local server verifies when it starts
/// (`scripts/lib.sh`'s `start_dynamo`): a test that does not verify it itself would otherwise
/// see SES's `MessageRejected` only under `make test`.
#[test]
fn the_local_server_verifies_the_sender_the_tests_mail_as() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib.sh");
    let script = std::fs::read_to_string(path).unwrap();
    let line = format!("TEST_MAIL_FROM=\"{}\"", shared::testing::TEST_MAIL_FROM);
    assert!(script.contains(&line), "scripts/lib.sh has no {line}");
    assert!(
        script.contains("--verify-sender \"$TEST_MAIL_FROM\""),
        "start_dynamo verifies it"
    );
}

#[test]
fn a_variable_the_template_forgets_is_caught() {
    let mut envs = environments();
    let login = envs.remove("login").unwrap();
    assert!(login::Settings::from_vars(&login).is_ok());
    let mut pairs: Vec<(String, String)> = Vec::new();
    for name in ["USERS_TABLE", "SESSIONS_TABLE", "JWT_ISSUER"] {
        pairs.push((name.to_owned(), login.get(name).unwrap()));
    }
    // Without RATE_LIMIT_TABLE, login cannot start.
    assert!(login::Settings::from_vars(&Vars::from_pairs(pairs)).is_err());
}
