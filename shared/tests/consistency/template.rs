//! What `template.yaml` must never do, whatever else changes in it.

use crate::helpers::read;

fn template() -> String {
    read("template.yaml")
}

#[test]
fn the_template_never_sets_a_test_only_switch() {
    let text = template();
    assert!(text.contains("ARGON2_MEMORY_KIB"), "the right file");
    assert!(
        !text.contains("ARGON2_ALLOW_WEAK_FOR_TESTS"),
        "template.yaml sets ARGON2_ALLOW_WEAK_FOR_TESTS"
    );
}

#[test]
fn the_log_level_parameter_accepts_levels_only() {
    let doc: serde_norway::Value = serde_norway::from_str(&template()).unwrap();
    let allowed: Vec<&str> = doc["Parameters"]["RustLog"]["AllowedValues"]
        .as_sequence()
        .expect("RustLog has AllowedValues")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(allowed, ["off", "error", "warn", "info", "debug", "trace"]);
}

fn doc() -> serde_norway::Value {
    serde_norway::from_str(&template()).unwrap()
}

#[test]
fn the_log_groups_of_audit_events_and_the_access_log_outlive_the_stack() {
    let doc = doc();
    let resources = &doc["Resources"];
    for group in [
        "RegisterLogGroup",
        "LoginLogGroup",
        "RefreshLogGroup",
        "LogoutLogGroup",
        "AdminGetUserLogGroup",
        "AdminUpdateUserLogGroup",
        "AdminEndSessionsLogGroup",
        "ChangePasswordLogGroup",
        "DeleteAccountLogGroup",
        "EndSessionLogGroup",
        "EndAllSessionsLogGroup",
        "LoginMfaLogGroup",
        "AccountLogGroup",
        "MfaEnrollLogGroup",
        "MfaConfirmLogGroup",
        "MfaRecoveryCodesLogGroup",
        "MfaDisableLogGroup",
        "AdminRemoveMfaLogGroup",
        "ApiAccessLogGroup",
    ] {
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
            assert_eq!(
                resources[group][policy].as_str(),
                Some("Retain"),
                "{group} {policy}"
            );
        }
    }
}

#[test]
fn the_access_log_is_json_without_any_header_value() {
    let doc = doc();
    let settings = &doc["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    let format = settings["Format"].as_str().expect("an access log format");
    let line: serde_json::Value = serde_json::from_str(format).expect("the format is JSON");
    assert!(
        line.get("requestId").is_some() && line.get("status").is_some(),
        "{line}"
    );
    let lower = format.to_lowercase();
    for forbidden in [
        "authorization",
        "$request.header",
        "$context.identity.apikey",
        "cookie",
    ] {
        assert!(!lower.contains(forbidden), "access log names {forbidden}");
    }
}

/// The attributes a function's writes to the users table are limited to (`dynamodb:Attributes`),
/// or `None` for a function whose policy does not write it.
fn users_write_attributes(doc: &serde_norway::Value, function: &str) -> Option<Vec<String>> {
    // A function without a policy document of its own writes nothing.
    let statements =
        doc["Resources"][function]["Properties"]["Policies"][0]["Statement"].as_sequence()?;
    let writes: Vec<_> = statements
        .iter()
        .filter(|st| format!("{:?}", st["Resource"]).contains("UsersTable"))
        .filter(|st| {
            let actions = format!("{:?}", st["Action"]);
            actions.contains("UpdateItem") || actions.contains("PutItem")
        })
        .collect();
    if writes.is_empty() {
        return None;
    }
    assert_eq!(writes.len(), 1, "{function}: one write statement on users");
    // Alone in its statement, so that the condition limits the write and nothing else.
    assert!(
        writes[0]["Action"].as_str().is_some(),
        "{function}: the write is its statement's only action"
    );
    let attributes = writes[0]["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
        .as_sequence()
        .unwrap_or_else(|| {
            panic!("{function}: its write to users is not limited by dynamodb:Attributes")
        })
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    Some(attributes)
}

#[test]
fn every_write_to_the_users_table_names_the_attributes_it_may_touch() {
    let doc = doc();
    let functions: Vec<String> = doc["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, _)| name.as_str().unwrap().to_owned())
        .collect();
    let writers: Vec<(String, Vec<String>)> = functions
        .iter()
        .filter_map(|f| users_write_attributes(&doc, f).map(|a| (f.clone(), a)))
        .collect();
    let of = |name: &str| {
        writers
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, a)| a.join(" "))
            .unwrap_or_default()
    };
    assert_eq!(of("LoginFunction"), "pk password_hash user_id");
    assert_eq!(
        of("RegisterFunction"),
        "pk user_id username password_hash created_at"
    );
    assert_eq!(
        of("AdminUpdateUserFunction"),
        "pk user_id roles disabled sources_epoch"
    );
    assert_eq!(
        of("LoginMfaFunction"),
        "pk user_id totp_secret totp_step recovery_codes"
    );
    assert_eq!(
        of("MfaEnrollFunction"),
        "pk user_id totp_secret totp_pending mfa_write"
    );
    // Only the admin API writes roles or disabled; only login, registration and a password
    // change write a password hash; only the functions that check or change a second factor
    // write its attributes.
    for (function, attributes) in &writers {
        let has = |a: &str| attributes.iter().any(|x| x == a);
        if [
            "totp_secret",
            "totp_pending",
            "totp_step",
            "recovery_codes",
            "mfa_write",
        ]
        .iter()
        .any(|a| has(a))
        {
            assert!(
                MFA_KEY_HOLDERS.contains(&function.as_str())
                    || function == "AdminRemoveMfaFunction",
                "{function} writes a second factor"
            );
        }
        // Pending secrets are written by the enrollment, confirmed by its confirmation and
        // removed by turning MFA off: never by a login or a step-up.
        if has("totp_pending") {
            assert!(
                [
                    "MfaEnrollFunction",
                    "MfaConfirmFunction",
                    "MfaDisableFunction",
                    "AdminRemoveMfaFunction"
                ]
                .contains(&function.as_str()),
                "{function} writes totp_pending"
            );
        }
        if has("roles") || has("disabled") {
            assert_eq!(function, "AdminUpdateUserFunction");
        }
        if has("password_hash") {
            assert!(
                [
                    "LoginFunction",
                    "RegisterFunction",
                    "ChangePasswordFunction"
                ]
                .contains(&function.as_str()),
                "{function}"
            );
        }
    }
}

/// The functions that sign access tokens (login, refresh, login-mfa) or check refresh tokens
/// (logout): the only ones the signing-keys secret is for.
const SIGNERS: [&str; 4] = [
    "LoginFunction",
    "RefreshFunction",
    "LogoutFunction",
    "LoginMfaFunction",
];

/// The functions that open a TOTP secret (the second step of a login, the `/mfa` routes, the
/// step-up of a password change and an account deletion): the only ones the MFA key is for.
/// Turning a user's second factor off as an admin removes it unread.
const MFA_KEY_HOLDERS: [&str; 7] = [
    "LoginMfaFunction",
    "MfaEnrollFunction",
    "MfaConfirmFunction",
    "MfaRecoveryCodesFunction",
    "MfaDisableFunction",
    "ChangePasswordFunction",
    "DeleteAccountFunction",
];

/// The statements of a function's (resolved) properties that give `secretsmanager`
/// permissions, and the rest of its properties with those statements left out.
fn secret_statements(props: &serde_norway::Value) -> (Vec<serde_norway::Value>, String) {
    let mut rest = props.clone();
    let mut secret = Vec::new();
    if let Some(policies) = rest["Policies"].as_sequence_mut() {
        for policy in policies {
            if let Some(statements) = policy["Statement"].as_sequence_mut() {
                statements.retain(|st| {
                    let grants = format!("{:?}", st["Action"]).contains("secretsmanager");
                    if grants {
                        secret.push(st.clone());
                    }
                    !grants
                });
            }
        }
    }
    (secret, format!("{rest:?}"))
}

/// Whether `statement` is exactly `GetSecretValue` on `MfaKeySecret` (a `!Ref` to it).
fn reads_only_the_mfa_key(statement: &serde_norway::Value) -> bool {
    let resource = match &statement["Resource"] {
        serde_norway::Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
        _ => None,
    };
    statement["Effect"].as_str() == Some("Allow")
        && statement["Action"].as_str() == Some("secretsmanager:GetSecretValue")
        && resource == Some("MfaKeySecret")
}

/// Whether the function deployed from `code_uri` verifies access tokens: its source (or that of
/// a function whose handler it builds, a `path` dependency) loads the public keys itself or
/// through the account or admin dependencies. Read from the source, so a function added later
/// is covered without being listed here.
fn verifies_tokens(code_uri: &str) -> bool {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(code_uri);
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let handlers = manifest
        .split("path = \"../")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|sibling| dir.join("..").join(sibling));
    std::iter::once(dir.clone())
        .chain(handlers)
        .flat_map(|crate_dir| {
            let src = crate_dir.join("src");
            std::fs::read_dir(&src)
                .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
                .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
                .collect::<Vec<_>>()
        })
        .any(|text| {
            ["load_public", "shared::account", "shared::admin"]
                .iter()
                .any(|needle| text.contains(needle))
        })
}

/// Issue 25 item 7: a plain `sam deploy` (no `PublicKeySet`) must not hand the private key set
/// to a function that only verifies. Every branch of every condition is evaluated (each
/// parameter the conditions read, at each of its values): in none of them does a function other
/// than the signers get the secret's ARN, a key source or any Secrets Manager permission but
/// `GetSecretValue` on `MfaKeySecret` (the key that opens TOTP secrets, issue 26), and every
/// function that verifies gets exactly `PublicKeySet` (absent without one: it then refuses to
/// start, `keys::load_public`).
#[test]
fn in_no_branch_does_a_function_that_only_verifies_get_the_signing_keys() {
    let doc = doc();
    let public = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"AA"}]}"#;
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keys-AbCdEf";
    let other = |name: &str| match name {
        "PublicKeySet" => public.to_owned(),
        "SigningKeysSecretArn" => arn.to_owned(),
        _ => format!("given-{name}"),
    };
    let stacks = crate::stack::Stack::every_choice(&doc, &other);
    assert!(stacks.len() >= 8, "the conditions read several parameters");
    let (mut verifiers_seen, mut signers_seen) = (0, 0);
    for stack in &stacks {
        let given = !stack.param("PublicKeySet").is_empty();
        for (name, props) in stack.functions() {
            let env = &props["Environment"]["Variables"];
            let code_uri = props["CodeUri"].as_str().unwrap();
            let at = || format!("{name} with {}", stack.describe());
            if SIGNERS.contains(&name.as_str()) {
                signers_seen += 1;
                assert!(!env["JWT_KEYS_SECRET_ARN"].is_null(), "{}", at());
                assert!(env["JWT_PUBLIC_KEYS"].is_null(), "{}: it signs", at());
                continue;
            }
            for source in ["JWT_KEYS_SECRET_ARN", "JWT_KEYS", "JWT_KEYS_FILE"] {
                assert!(env[source].is_null(), "{}: {source}", at());
            }
            // A Secrets Manager permission of a verifying function reads the MFA key, nothing
            // else; the rest of its properties name neither the permission nor the signing keys.
            let (secret, rest) = secret_statements(&props);
            for statement in &secret {
                assert!(reads_only_the_mfa_key(statement), "{}: {statement:?}", at());
            }
            for needle in ["secretsmanager", "SigningKeysSecret", arn] {
                assert!(!rest.contains(needle), "{}: {needle}", at());
            }
            if verifies_tokens(code_uri) {
                verifiers_seen += 1;
                let expected = given.then_some(public);
                assert_eq!(env["JWT_PUBLIC_KEYS"].as_str(), expected, "{}", at());
            } else {
                assert!(env["JWT_PUBLIC_KEYS"].is_null(), "{}: needs no key", at());
            }
        }
    }
    assert!(verifiers_seen > stacks.len() * 10, "{verifiers_seen}");
    assert_eq!(signers_seen, stacks.len() * SIGNERS.len());
}

/// Least privilege for the key that opens TOTP secrets: in every branch of every condition,
/// exactly the functions of [`MFA_KEY_HOLDERS`] get `MFA_KEY_SECRET_ARN` (the `MfaKeySecret`,
/// never another secret) and `GetSecretValue` on it; no other function names it at all, nor
/// gets an MFA key from elsewhere (`MFA_KEY`, `MFA_KEY_FILE`).
#[test]
fn only_the_functions_that_open_a_totp_secret_get_the_mfa_key() {
    let doc = doc();
    let other = |name: &str| format!("given-{name}");
    let stacks = crate::stack::Stack::every_choice(&doc, &other);
    let mut holders_seen = 0;
    for stack in &stacks {
        let mut holders = Vec::new();
        for (name, props) in stack.functions() {
            let env = &props["Environment"]["Variables"];
            let at = || format!("{name} with {}", stack.describe());
            for source in ["MFA_KEY", "MFA_KEY_FILE"] {
                assert!(env[source].is_null(), "{}: {source}", at());
            }
            let (secret, _) = secret_statements(&props);
            let reads_key = secret.iter().any(reads_only_the_mfa_key);
            if MFA_KEY_HOLDERS.contains(&name.as_str()) {
                holders.push(name.clone());
                let arn = match &env["MFA_KEY_SECRET_ARN"] {
                    serde_norway::Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
                    _ => None,
                };
                assert_eq!(arn, Some("MfaKeySecret"), "{}", at());
                assert!(reads_key, "{}: no GetSecretValue on MfaKeySecret", at());
            } else {
                assert!(env["MFA_KEY_SECRET_ARN"].is_null(), "{}", at());
                assert!(
                    !format!("{props:?}").contains("MfaKeySecret"),
                    "{}: names MfaKeySecret",
                    at()
                );
            }
        }
        holders.sort();
        let mut want: Vec<String> = MFA_KEY_HOLDERS.iter().map(|h| (*h).to_owned()).collect();
        want.sort();
        assert_eq!(
            holders,
            want,
            "every holder is deployed: {}",
            stack.describe()
        );
        holders_seen += holders.len();
    }
    assert_eq!(holders_seen, stacks.len() * MFA_KEY_HOLDERS.len());
}

/// Whether the function deployed from `code_uri` loads the MFA key when it starts: its source
/// calls `MfaKey::load`, or it runs on the account dependencies (`shared::account::Deps`,
/// whose `from_env` loads the key) with the shared crate's `mfa` feature on in its own
/// `[dependencies]` (as `sam build` builds it, alone).
fn loads_mfa_key(code_uri: &str) -> bool {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(code_uri);
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let deployed = manifest
        .split("[dev-dependencies]")
        .next()
        .unwrap_or_default();
    let mfa_feature = deployed
        .lines()
        .any(|l| l.trim_start().starts_with("shared") && l.contains("\"mfa\""));
    let src = dir.join("src");
    let texts: Vec<String> = std::fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    let loads = texts.iter().any(|t| t.contains("MfaKey::load"));
    let account_deps = texts
        .iter()
        .any(|t| t.contains("shared::account::{Deps") || t.contains("shared::account::Deps"));
    loads || (mfa_feature && account_deps)
}

/// A function that loads the MFA key at start without `MFA_KEY_SECRET_ARN` refuses to start
/// once deployed (`MfaKey::load`), which no local test shows (they all have `MFA_KEY_FILE`); one
/// that gets the key without loading it holds a secret it does not need. Read from the sources,
/// so that a function that starts loading it is caught here.
#[test]
fn the_functions_that_load_the_mfa_key_are_exactly_those_given_it() {
    let doc = doc();
    let mut problems = Vec::new();
    for (name, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap();
        let code_uri = resource["Properties"]["CodeUri"].as_str().unwrap();
        let loads = loads_mfa_key(code_uri);
        let given = MFA_KEY_HOLDERS.contains(&name);
        if loads && !given {
            problems.push(format!("{name} loads the MFA key at start, and gets none"));
        }
        if given && !loads {
            problems.push(format!("{name} gets the MFA key, and never loads it"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The MFA key is generated by the stack and outlives it: losing it makes every enrolled
/// authenticator useless.
#[test]
fn the_mfa_key_secret_is_generated_and_retained() {
    let doc = doc();
    let secret = &doc["Resources"]["MfaKeySecret"];
    assert_eq!(secret["Type"].as_str(), Some("AWS::SecretsManager::Secret"));
    for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
        assert_eq!(secret[policy].as_str(), Some("Retain"), "{policy}");
    }
    assert!(secret["Condition"].is_null(), "always created");
    let generated = &secret["Properties"]["GenerateSecretString"];
    assert!(generated["PasswordLength"].as_u64().unwrap() >= 32);
    assert!(
        secret["Properties"]["SecretString"].is_null(),
        "no value in the template"
    );
}

#[tokio::test]
async fn a_function_that_only_verifies_refuses_to_start_without_a_public_key_set() {
    // What a verifying function gets from a plain `sam deploy`: its other settings, no key.
    let vars = shared::config::Vars::from_pairs([
        ("JWT_ISSUER", "https://auth.example.com".to_owned()),
        ("JWT_AUDIENCE", "api".to_owned()),
    ]);
    let refused = shared::keys::load_public(&vars).await;
    assert!(refused.is_err(), "started without a key");
}

/// Issue 25 item 4: every function writes only its own log group. SAM gives each function's role
/// AWSLambdaBasicExecutionRole (logs on every log group); an explicit deny of every other log
/// group in its own policy wins over that allow.
#[test]
fn every_function_writes_only_its_own_log_group() {
    let doc = doc();
    let mut checked = 0;
    for (name, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap();
        let props = &resource["Properties"];
        let group = format!("{:?}", props["LoggingConfig"]["LogGroup"]);
        let group = group
            .split('"')
            .nth(1)
            .unwrap_or_else(|| panic!("{name}: no log group of its own"));
        let statements: Vec<&serde_norway::Value> = props["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|p| p["Statement"].as_sequence().into_iter().flatten())
            .collect();
        let denies: Vec<_> = statements
            .iter()
            .filter(|s| s["Effect"].as_str() == Some("Deny"))
            .collect();
        assert_eq!(denies.len(), 1, "{name}: one deny of the other log groups");
        let deny = denies[0];
        assert_eq!(deny["Action"].as_str(), Some("logs:*"), "{name}");
        assert!(
            deny["Resource"].is_null(),
            "{name}: NotResource, not Resource"
        );
        let kept: Vec<String> = deny["NotResource"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{name}: NotResource"))
            .iter()
            .map(|r| format!("{r:?}"))
            .collect();
        assert_eq!(kept.len(), 2, "{name}: the group and its streams");
        for arn in &kept {
            assert!(
                arn.contains(&format!(":log-group:${{{group}}}")),
                "{name}: {arn} is not {group}"
            );
        }
        assert!(kept[1].contains(&format!("${{{group}}}:*")), "{name}");
        // Nothing else grants logs.
        for s in &statements {
            if s["Effect"].as_str() != Some("Deny") {
                assert!(!format!("{:?}", s["Action"]).contains("logs:"), "{name}");
            }
        }
        checked += 1;
    }
    assert!(checked > 10, "{checked}");
}

/// `!If [cond, then, else]`'s `then`, or the value itself.
fn then_branch(value: &serde_norway::Value) -> &serde_norway::Value {
    match value {
        serde_norway::Value::Tagged(t) if t.tag == "If" => &t.value[1],
        other => other,
    }
}

#[test]
fn the_lambda_authorizers_cache_key_holds_the_route() {
    // API Gateway caches an authorizer's answer by its identity sources: without the route
    // among them, an allow cached for a route needing one scope would be reused on another.
    let doc = doc();
    let identity = &doc["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"]["LambdaTokenAuthorizer"]
        ["Identity"];
    assert_eq!(identity["Headers"][0].as_str(), Some("Authorization"));
    let context: Vec<&str> = identity["Context"]
        .as_sequence()
        .expect("Identity has Context")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(context.contains(&"routeKey"), "{context:?}");
}

#[test]
fn cors_names_its_origin_and_allows_every_method_the_api_uses() {
    let doc = doc();
    let cors = then_branch(&doc["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]);
    let methods: Vec<&str> = cors["AllowMethods"]
        .as_sequence()
        .expect("AllowMethods")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(&method), "{method}: {methods:?}");
    }
    assert!(cors.get("AllowCredentials").is_none(), "no credentials");
    // The origin parameter takes one explicit origin, never a wildcard.
    let pattern = doc["Parameters"]["CorsAllowOrigin"]["AllowedPattern"]
        .as_str()
        .unwrap();
    let regex = regex_lite::Regex::new(pattern).unwrap();
    let origin = |o: &str| regex.is_match(o);
    assert!(origin("https://app.example.com") && origin(""), "{pattern}");
    assert!(
        !origin("*") && !origin("https://*.example.com"),
        "{pattern}"
    );
}
