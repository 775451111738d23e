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
    // Only the admin API writes roles or disabled; only login, registration and a password
    // change write a password hash.
    for (function, attributes) in &writers {
        let has = |a: &str| attributes.iter().any(|x| x == a);
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

#[test]
fn with_a_public_key_set_no_verify_only_function_may_read_the_private_secret() {
    let doc = doc();
    let resources = &doc["Resources"];
    let verify_only = [
        "ProtectedSessionFunction",
        "AuthorizerFunction",
        "AdminGetUserFunction",
        "AdminUpdateUserFunction",
        "AdminEndSessionsFunction",
        "ChangePasswordFunction",
        "DeleteAccountFunction",
        "ListSessionsFunction",
        "EndSessionFunction",
        "EndAllSessionsFunction",
    ];
    for name in verify_only {
        let props = &resources[name]["Properties"];
        let env = format!("{:?}", props["Environment"]["Variables"]["JWT_PUBLIC_KEYS"]);
        assert!(
            env.contains("HasPublicKeySet"),
            "{name}: JWT_PUBLIC_KEYS {env}"
        );
        // Every statement that grants GetSecretValue sits under an If on HasPublicKeySet.
        let policies = format!("{:?}", props["Policies"]);
        let grants = policies.matches("secretsmanager:GetSecretValue").count();
        assert!(grants >= 1, "{name}");
        assert_eq!(
            policies.matches("HasPublicKeySet").count(),
            grants,
            "{name}: an unconditional GetSecretValue"
        );
    }
    // The SDK-free builds exist only with a PublicKeySet, and hold no permission at all.
    for (name, condition) in [
        ("ProtectedFunction", "ProtectedStateless"),
        ("JwksFunction", "HasPublicKeySet"),
    ] {
        let resource = &resources[name];
        assert_eq!(resource["Condition"].as_str(), Some(condition), "{name}");
        assert!(resource["Properties"]["Policies"].is_null(), "{name}");
        let env = &resource["Properties"]["Environment"]["Variables"];
        assert!(env["JWT_KEYS_SECRET_ARN"].is_null(), "{name}");
        assert!(
            format!("{:?}", env["JWT_PUBLIC_KEYS"]).contains("PublicKeySet"),
            "{name}"
        );
    }
    // The one build that reads the secret for the JWK Set exists only without a PublicKeySet.
    assert_eq!(
        resources["JwksSecretFunction"]["Condition"].as_str(),
        Some("NoPublicKeySet")
    );
    for name in ["LoginFunction", "RefreshFunction", "LogoutFunction"] {
        let env = &resources[name]["Properties"]["Environment"]["Variables"];
        assert!(
            env["JWT_PUBLIC_KEYS"].is_null(),
            "{name} signs: it needs the secret"
        );
    }
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
