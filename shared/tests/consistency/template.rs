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
        "EmailChangeLogGroup",
        "EmailVerifyLogGroup",
        "EmailResendLogGroup",
        "PasswordForgotLogGroup",
        "PasswordResetLogGroup",
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

/// The statements of a function's own policy document on the users table.
fn users_statements<'d>(
    doc: &'d serde_norway::Value,
    function: &str,
) -> Vec<&'d serde_norway::Value> {
    // A function without a policy document of its own has none.
    doc["Resources"][function]["Properties"]["Policies"][0]["Statement"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter(|st| format!("{:?}", st["Resource"]).contains("UsersTable"))
        .collect()
}

/// The attributes a function's writes to the users table are limited to (`dynamodb:Attributes`;
/// with several write statements, such as a transaction's update and put, all of theirs), or
/// `None` for a function whose policy does not write it.
fn users_write_attributes(doc: &serde_norway::Value, function: &str) -> Option<Vec<String>> {
    let writes: Vec<_> = users_statements(doc, function)
        .into_iter()
        .filter(|st| {
            let actions = format!("{:?}", st["Action"]);
            actions.contains("UpdateItem") || actions.contains("PutItem")
        })
        .collect();
    if writes.is_empty() {
        return None;
    }
    let mut attributes = Vec::new();
    for write in writes {
        // Alone in its statement, so that the condition limits the write and nothing else.
        let action = write["Action"].as_str().unwrap_or_else(|| {
            panic!("{function}: a write to users is not its statement's only action")
        });
        let names = write["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
            .as_sequence()
            .unwrap_or_else(|| {
                panic!("{function}: its {action} on users is not limited by dynamodb:Attributes")
            });
        attributes.extend(names.iter().map(|v| v.as_str().unwrap().to_owned()));
    }
    attributes.dedup();
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
        "pk user_id username password_hash created_at email_pending email_token \
         email_token_expires"
    );
    // With the step-up's code of a user with a second factor.
    assert_eq!(
        of("EmailChangeFunction"),
        "pk user_id email_pending email_token email_token_expires totp_secret totp_step \
         recovery_codes mfa_write"
    );
    assert_eq!(
        of("EmailResendFunction"),
        "pk user_id email_pending email_token email_token_expires"
    );
    // The verification's transaction: the user's update (ending a reset link mailed to the
    // address it replaces), then the address's claim.
    assert_eq!(
        of("EmailVerifyFunction"),
        "pk user_id email email_pending email_token email_token_expires email_write reset_token \
         reset_expires pk user_id user_key"
    );
    assert_eq!(
        of("PasswordForgotFunction"),
        "pk user_id reset_token reset_expires"
    );
    assert_eq!(
        of("PasswordResetFunction"),
        "pk password_hash sources_epoch reset_token reset_expires password_changed_by"
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
                    "ChangePasswordFunction",
                    "PasswordResetFunction",
                ]
                .contains(&function.as_str()),
                "{function}"
            );
        }
        // A verified address, and the claim that makes it the account's, come only from its
        // link: no other function can point reset links somewhere else.
        if has("email") || has("email_write") || has("user_key") {
            assert_eq!(function, "EmailVerifyFunction", "writes a verified address");
        }
        // A pending address and its link: given at registration or by the account's owner
        // (password checked), sent again, or spent by the verification.
        if has("email_pending") || has("email_token") || has("email_token_expires") {
            assert!(
                [
                    "RegisterFunction",
                    "EmailChangeFunction",
                    "EmailResendFunction",
                    "EmailVerifyFunction",
                ]
                .contains(&function.as_str()),
                "{function} writes a pending address"
            );
        }
        // A reset link: made by the forgotten-password route, spent by a reset, ended by a
        // password change or by the verification of a new address.
        if has("reset_token") || has("reset_expires") {
            assert!(
                [
                    "PasswordForgotFunction",
                    "PasswordResetFunction",
                    "ChangePasswordFunction",
                    "EmailVerifyFunction",
                ]
                .contains(&function.as_str()),
                "{function} writes a reset link"
            );
        }
    }
}

/// The `dynamodb:LeadingKeys` patterns a statement is limited to, if any.
fn leading_keys(statement: &serde_norway::Value) -> Option<Vec<String>> {
    let keys =
        statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"].as_sequence()?;
    Some(
        keys.iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect(),
    )
}

/// The claims of verified addresses (`email#<address>` items of the users table) are put and
/// deleted by the verification (and released by an account's deletion, whose `DeleteItem` on
/// the users table deletes the user anyway), the verification through statements that reach no
/// other item: a
/// `PutItem` or `DeleteItem` limited to those keys by `dynamodb:LeadingKeys`, so that the
/// verification can neither overwrite nor delete a user.
#[test]
fn only_the_verification_writes_address_claims_and_only_claims() {
    let doc = doc();
    let mut claim_writers = Vec::new();
    for (name, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap();
        for statement in users_statements(&doc, name) {
            if let Some(keys) = leading_keys(statement) {
                assert_eq!(keys, ["email#*"], "{name}: {statement:?}");
                claim_writers.push((name.to_owned(), statement["Action"].as_str().unwrap()));
            }
        }
    }
    claim_writers.sort();
    assert_eq!(
        claim_writers,
        [
            ("EmailVerifyFunction".to_owned(), "dynamodb:DeleteItem"),
            ("EmailVerifyFunction".to_owned(), "dynamodb:PutItem"),
        ],
        "the claims' writers"
    );
    // Every put and delete of the verification is one of those.
    for statement in users_statements(&doc, "EmailVerifyFunction") {
        let action = statement["Action"].as_str().unwrap_or_default();
        if action.ends_with("PutItem") || action.ends_with("DeleteItem") {
            assert!(leading_keys(statement).is_some(), "{statement:?}");
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
/// step-up of a password change, an account deletion and a new address): the only ones the MFA
/// key is for. Turning a user's second factor off as an admin removes it unread.
const MFA_KEY_HOLDERS: [&str; 8] = [
    "LoginMfaFunction",
    "MfaEnrollFunction",
    "MfaConfirmFunction",
    "MfaRecoveryCodesFunction",
    "MfaDisableFunction",
    "ChangePasswordFunction",
    "DeleteAccountFunction",
    "EmailChangeFunction",
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
/// through the account or admin dependencies (`shared::account::Deps`: a function that only
/// borrows a helper of `shared::account` verifies nothing). Read from the source, so a function added later
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
            [
                "load_public",
                "shared::account::{Deps",
                "shared::account::Deps",
                "shared::admin",
            ]
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

/// The crate deployed from `code_uri` as `sam build` builds it, alone: the shared crate's
/// features on in its own `[dependencies]` (not its dev-dependencies'), and the text of its
/// sources.
struct DeployedCrate {
    shared_features: String,
    sources: Vec<String>,
}

impl DeployedCrate {
    fn read(code_uri: &str) -> Self {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(code_uri);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let deployed = manifest
            .split("[dev-dependencies]")
            .next()
            .unwrap_or_default();
        let shared_features = deployed
            .lines()
            .filter(|l| l.trim_start().starts_with("shared"))
            .collect();
        let src = dir.join("src");
        let sources = std::fs::read_dir(&src)
            .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
            .collect();
        Self {
            shared_features,
            sources,
        }
    }

    fn has_feature(&self, feature: &str) -> bool {
        self.shared_features.contains(&format!("\"{feature}\""))
    }

    fn mentions(&self, needle: &str) -> bool {
        self.sources.iter().any(|t| t.contains(needle))
    }

    /// Runs on the account dependencies (`shared::account::Deps`), whose `from_env` loads the
    /// MFA key under the `mfa` feature and the contact channel under `mail`.
    fn on_account_deps(&self) -> bool {
        self.mentions("shared::account::{Deps") || self.mentions("shared::account::Deps")
    }
}

/// Whether the function deployed from `code_uri` loads the MFA key when it starts: its source
/// calls `MfaKey::load`, or it runs on the account dependencies with the shared crate's `mfa`
/// feature on in its own `[dependencies]` (as `sam build` builds it, alone).
fn loads_mfa_key(code_uri: &str) -> bool {
    let krate = DeployedCrate::read(code_uri);
    krate.mentions("MfaKey::load") || (krate.has_feature("mfa") && krate.on_account_deps())
}

/// Whether the function deployed from `code_uri` sends mail: built with the shared crate's
/// `mail` feature, it connects the contact channel when it starts (`Contact::from_env` in its
/// source, or the account dependencies, whose `from_env` does under that feature). The feature
/// alone is not enough: the verification borrows `shared::email`'s link-token reader from it
/// and sends nothing.
fn sends_mail(code_uri: &str) -> bool {
    let krate = DeployedCrate::read(code_uri);
    krate.has_feature("mail") && (krate.mentions("Contact::from_env") || krate.on_account_deps())
}

/// Every statement of a function's (resolved) policies.
fn statements(props: &serde_norway::Value) -> Vec<&serde_norway::Value> {
    props["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|p| p["Statement"].as_sequence().into_iter().flatten())
        .collect()
}

/// Least privilege for mail (issue 27): in every branch of every condition, exactly the
/// functions that send mail (read from their crates, as `sends_mail` says) may call
/// `ses:SendEmail`, only as `MailFrom`, and only in a stack given one; each gets `MAIL_FROM`
/// (absent without one: no mail) and `PUBLIC_BASE_URL` (`PublicBaseUrl`, else `JwtIssuer`). No
/// other function names SES or the mail settings, and only registration reads `REQUIRE_EMAIL`.
#[test]
fn only_the_functions_that_send_mail_may_send_it_and_only_as_mail_from() {
    use std::collections::BTreeSet;
    let doc = doc();
    let other = |name: &str| match name {
        "MailFrom" => "no-reply@example.com".to_owned(),
        "PublicBaseUrl" => "https://auth.example.com".to_owned(),
        _ => format!("given-{name}"),
    };
    let stacks = crate::stack::Stack::every_choice(&doc, &other);
    let mut senders = BTreeSet::new();
    for (name, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() == Some("AWS::Serverless::Function")
            && sends_mail(resource["Properties"]["CodeUri"].as_str().unwrap())
        {
            senders.insert(name.as_str().unwrap().to_owned());
        }
    }
    for sender in [
        "RegisterFunction",
        "ChangePasswordFunction",
        "EmailChangeFunction",
        "PasswordForgotFunction",
        "PasswordResetFunction",
    ] {
        assert!(senders.contains(sender), "{sender} sends mail: {senders:?}");
    }
    assert!(
        !senders.contains("EmailVerifyFunction"),
        "the verification sends no mail"
    );
    let mut mail_stacks = 0;
    for stack in &stacks {
        let mail_from = stack.param("MailFrom");
        let base = match stack.param("PublicBaseUrl") {
            "" => stack.param("JwtIssuer"),
            given => given,
        };
        let mut granted = BTreeSet::new();
        for (name, props) in stack.functions() {
            let at = || format!("{name} with {}", stack.describe());
            let env = &props["Environment"]["Variables"];
            let ses: Vec<_> = statements(&props)
                .into_iter()
                .filter(|s| format!("{:?}", s["Action"]).contains("ses:"))
                .collect();
            assert_eq!(
                env["REQUIRE_EMAIL"].is_null(),
                name != "RegisterFunction",
                "{}",
                at()
            );
            if !senders.contains(&name) {
                assert!(ses.is_empty(), "{}: {ses:?}", at());
                for var in ["MAIL_FROM", "PUBLIC_BASE_URL"] {
                    assert!(env[var].is_null(), "{}: {var}", at());
                }
                continue;
            }
            assert_eq!(env["PUBLIC_BASE_URL"].as_str(), Some(base), "{}", at());
            if mail_from.is_empty() {
                assert!(env["MAIL_FROM"].is_null(), "{}: no mail", at());
                assert!(ses.is_empty(), "{}: no mail, no SES", at());
                continue;
            }
            assert_eq!(env["MAIL_FROM"].as_str(), Some(mail_from), "{}", at());
            assert_eq!(ses.len(), 1, "{}: one SES statement", at());
            let statement = ses[0];
            assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{}", at());
            assert_eq!(
                statement["Action"].as_str(),
                Some("ses:SendEmail"),
                "{}",
                at()
            );
            let resource = format!("{:?}", statement["Resource"]);
            assert!(
                resource.contains(":ses:${AWS::Region}:${AWS::AccountId}:identity/*"),
                "{}: {resource}",
                at()
            );
            let from = &statement["Condition"]["StringEquals"]["ses:FromAddress"];
            assert_eq!(
                from.as_str(),
                Some(mail_from),
                "{}: sends as MailFrom only",
                at()
            );
            granted.insert(name.clone());
        }
        if !mail_from.is_empty() {
            mail_stacks += 1;
            assert_eq!(
                granted,
                senders,
                "every sender deployed: {}",
                stack.describe()
            );
        }
    }
    assert!(
        mail_stacks > 0 && mail_stacks < stacks.len(),
        "{mail_stacks}"
    );
}

/// The cycle trap (/work/shared/TOOLING.md): SAM writes every routed function's ARN into the
/// HttpApi's body, so a function variable naming the API closes a cycle that CloudFormation
/// refuses at deploy time and `cfn-lint` does not see. The links' base (`PUBLIC_BASE_URL`)
/// therefore comes from the parameters, never from the API's generated URL.
#[test]
fn no_function_environment_names_the_http_api() {
    let doc = doc();
    for (name, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let env = format!("{:?}", resource["Properties"]["Environment"]);
        assert!(!env.contains("HttpApi"), "{name:?}: {env}");
    }
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
