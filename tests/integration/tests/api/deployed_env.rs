//! Every function starts with exactly the environment `template.yaml` gives it: each
//! function's `Settings::from_vars` is run on the variables of its template resource (the
//! Globals merged in, parameters at their defaults). A variable a function needs but the
//! template forgets would otherwise show only as a failed cold start after a deploy.

use std::collections::BTreeMap;

use serde_norway::Value as Yaml;
use shared::config::Vars;

use crate::helpers::{functions, template};

/// A template value as the function would see it: a parameter's default for `!Ref`, the
/// second branch of an `!If` (the default conditions: no CORS, a generated secret, no public
/// set), and a stand-in for what only CloudFormation knows (ARNs, names).
fn resolve(doc: &Yaml, value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Tagged(tagged) => match tagged.tag.to_string().trim_start_matches('!') {
            "Ref" => {
                let name = tagged.value.as_str().unwrap();
                if name == "AWS::NoValue" {
                    return None;
                }
                let param = &doc["Parameters"][name];
                if param.is_null() {
                    // A resource: its name or ARN.
                    return Some(format!("{name}-deployed"));
                }
                resolve(doc, &param["Default"]).or(Some(String::new()))
            }
            "If" => {
                let branches = tagged.value.as_sequence().unwrap();
                let condition = branches[0].as_str().unwrap();
                // The defaults: the stack generates its secret; no CORS, no public key set.
                let first = condition == "CreateSigningKeysSecret";
                resolve(doc, &branches[if first { 1 } else { 2 }])
            }
            _ => Some("resolved-by-cloudformation".into()),
        },
        other => panic!("an environment value of an unexpected shape: {other:?}"),
    }
}

fn environments() -> BTreeMap<String, Vars> {
    let doc = template();
    let mut global = Vec::new();
    if let Some(vars) = doc["Globals"]["Function"]["Environment"]["Variables"].as_mapping() {
        for (k, v) in vars {
            if let Some(v) = resolve(&doc, v) {
                global.push((k.as_str().unwrap().to_owned(), v));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (binary, resource) in functions(&doc) {
        let mut pairs = global.clone();
        if let Some(vars) = resource["Properties"]["Environment"]["Variables"].as_mapping() {
            for (k, v) in vars {
                if let Some(v) = resolve(&doc, v) {
                    pairs.push((k.as_str().unwrap().to_owned(), v));
                }
            }
        }
        out.insert(binary.to_owned(), Vars::from_pairs(pairs));
    }
    out
}

#[test]
fn every_function_starts_with_the_environment_the_template_gives_it() {
    let envs = environments();
    type Check = fn(&Vars) -> Result<(), String>;
    fn ok<T>(r: Result<T, shared::config::ConfigError>) -> Result<(), String> {
        r.map(drop).map_err(|e| e.to_string())
    }
    let checks: [(&str, Check); 26] = [
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
    ];
    let mut expected: Vec<String> = checks.iter().map(|(n, _)| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(
        envs.keys().cloned().collect::<Vec<_>>(),
        expected,
        "every function of the template is checked here"
    );
    let mut failures = Vec::new();
    for (name, check) in checks {
        if let Err(e) = check(&envs[name]) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "would fail at cold start: {failures:#?}"
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
