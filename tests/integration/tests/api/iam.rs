//! Least privilege, checked against what the functions really do: each function runs its
//! success and main refusal paths through a recording proxy in front of the local server, and
//! every DynamoDB request it made (operation, table, index) must be allowed by its policy in
//! `template.yaml`. A call the template forgot to allow would otherwise show only deployed, as
//! an `AccessDeniedException` (a 500 or 503) on that path.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use serde_norway::Value as Yaml;
use shared::store::SessionStore;
use shared::testing::faults::{Call, FaultProxy};
use shared::testing::{
    Event, Fixture, account_deps, body_json, call, create_user, enable_mfa, local_endpoint,
    local_mailer, mails_to, set_disabled, sign_in, signed_in, stored, test_contact, totp_code,
    unique, unique_ip,
};

use crate::helpers::{self, functions, template};

const PASSWORD: &str = "correct horse battery";

/// A login of `name` (with the right password) to the login function `deps`: a user with a
/// second factor gets `403 mfa_required` and this `mfa_token`.
async fn mfa_token(deps: &login::Deps, name: &str) -> String {
    let e = helpers::login_event(name, PASSWORD);
    let response = call(login::handle, deps, e.request()).await;
    assert_eq!(response.status(), 403, "{:?}", response.body());
    body_json(&response)["mfa_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `POST /login/mfa` with this body, from an address of its own.
fn login_mfa_event(body: serde_json::Value) -> Event {
    Event::load("login-mfa").json(body).source_ip(&unique_ip())
}

/// A six-digit code that is not `right`.
fn wrong_code(right: &str) -> &'static str {
    if right == "000000" {
        "111111"
    } else {
        "000000"
    }
}

/// The token of the link to `page` (`verify-email`, `reset-password`) mailed to `address`
/// that is the current one, whose hash is `current` (the local server's list of the mails it
/// accepted keeps no order to rely on).
async fn mailed_link(address: &str, page: &str, current: Option<&str>) -> String {
    let marker = format!("/{page}#token=");
    let mails = mails_to(address).await;
    mails
        .iter()
        .filter_map(|mail| mail.body.split_once(&marker))
        .map(|(_, rest)| rest.split_whitespace().next().unwrap().to_owned())
        .find(|token| {
            shared::keyed_token::parse(token, 512)
                .is_some_and(|(_, hash)| Some(hash.as_str()) == current)
        })
        .unwrap_or_else(|| panic!("no current {page} link mailed to {address}: {mails:?}"))
}

/// A grant: "dynamodb:<Action>" and the resource.
type Grant = (String, String);

/// (function binary, "dynamodb:<Action>", resource) allowed by the template, the resource
/// being a table's logical name, or `SessionsTable/index/by-user`; and, for a grant limited
/// by `dynamodb:Attributes`, the attributes it may name.
#[allow(clippy::type_complexity)]
fn allowed() -> (
    BTreeMap<String, BTreeSet<Grant>>,
    BTreeMap<(String, Grant), BTreeSet<String>>,
) {
    let doc = template();
    let mut out = BTreeMap::new();
    let mut limited = BTreeMap::new();
    for (binary, resource) in functions(&doc) {
        let mut grants = BTreeSet::new();
        for policy in resource["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let Some(statements) = policy["Statement"].as_sequence() else {
                continue; // an !If around a whole policy: only secrets there
            };
            for statement in statements {
                if statement["Effect"].as_str() == Some("Deny") {
                    continue; // the other log groups: no DynamoDB there
                }
                let actions: Vec<String> = match &statement["Action"] {
                    Yaml::String(a) => vec![a.clone()],
                    Yaml::Sequence(list) => list
                        .iter()
                        .map(|a| a.as_str().unwrap().to_owned())
                        .collect(),
                    _ => continue, // an !If: the conditional secret statement
                };
                let Yaml::Tagged(target) = &statement["Resource"] else {
                    continue;
                };
                let text = target.value.as_str().unwrap_or_default();
                let resource = if let Some(table) = text.strip_suffix(".Arn") {
                    table.to_owned()
                } else if let Some(rest) = text.strip_prefix("${") {
                    rest.replacen(".Arn}", "", 1)
                } else {
                    continue;
                };
                let attributes =
                    statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
                        .as_sequence()
                        .map(|list| {
                            list.iter()
                                .map(|a| a.as_str().unwrap().to_owned())
                                .collect::<BTreeSet<_>>()
                        });
                for action in actions {
                    let grant = (action, resource.clone());
                    if let Some(attributes) = &attributes {
                        limited.insert((binary.to_owned(), grant.clone()), attributes.clone());
                    }
                    grants.insert(grant);
                }
            }
        }
        out.insert(binary.to_owned(), grants);
    }
    (out, limited)
}

/// The template's name for a request's table (and index).
fn resource_of(call: &Call) -> String {
    let tables = shared::testing::tables();
    let table = if call.table == tables.users {
        "UsersTable"
    } else if call.table == tables.sessions {
        "SessionsTable"
    } else if call.table == tables.rate_limits {
        "RateLimitTable"
    } else {
        panic!("a request for an unknown table: {call:?}")
    };
    match &call.index {
        Some(index) => format!("{table}/index/{index}"),
        None => table.to_owned(),
    }
}

struct Recorder {
    proxy: FaultProxy,
    seen: BTreeMap<&'static str, BTreeSet<Grant>>,
    /// The attributes each function's writes named, by grant.
    written: BTreeMap<(&'static str, Grant), BTreeSet<String>>,
}

impl Recorder {
    fn note(&mut self, function: &'static str) {
        for c in self.proxy.take_calls() {
            let entry = (format!("dynamodb:{}", c.operation), resource_of(&c));
            if !c.attributes.is_empty() {
                self.written
                    .entry((function, entry.clone()))
                    .or_default()
                    .extend(c.attributes.iter().cloned());
            }
            self.seen.entry(function).or_default().insert(entry);
        }
    }
}

#[tokio::test]
async fn every_dynamodb_call_of_every_function_is_allowed_by_its_policy() {
    let direct = Fixture::local().await;
    let proxy = FaultProxy::start(&local_endpoint()).await;
    // Stronger argon2 than the helpers' hashes, so that login takes its rehash path too.
    let f = Fixture::behind(&proxy.endpoint)
        .await
        .with("ARGON2_MEMORY_KIB", "128");
    let mut r = Recorder {
        proxy,
        seen: BTreeMap::new(),
        written: BTreeMap::new(),
    };
    r.proxy.take_calls();

    // register: a new user, then the same name again.
    let name = unique("iam_");
    let body = json!({"username": name, "password": PASSWORD});
    let deps = helpers::register(&f);
    for _ in 0..2 {
        let e = Event::load("register")
            .json(body.clone())
            .source_ip(&unique_ip());
        call(register::handle, &deps, e.request()).await;
    }
    r.note("register");

    // login: right, wrong, unknown, and a user whose hash is weaker than configured.
    let deps = helpers::login(&f);
    let weak = unique("weak_");
    create_user(direct.store().as_ref(), &weak, PASSWORD, &[]).await;
    let mut tokens = json!(null);
    for (user, password) in [
        (&name, PASSWORD),
        (&name, "wrong"),
        (&unique("ghost_"), "x"),
        (&weak, PASSWORD),
    ] {
        let e = Event::load("login")
            .json(json!({"username": user, "password": password}))
            .source_ip(&unique_ip());
        let response = call(login::handle, &deps, e.request()).await;
        if user == &name && password == PASSWORD {
            tokens = shared::testing::body_json(&response);
        }
    }
    r.note("login");

    // refresh: a rotation, then the old token again (reuse revokes), and a disabled user.
    let deps = helpers::refresh(&f);
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    for token in [&first, &first] {
        let e = Event::load("refresh")
            .json(json!({"refresh_token": token}))
            .source_ip(&unique_ip());
        call(refresh::handle, &deps, e.request()).await;
    }
    let off = signed_in(direct.store(), direct.now()).await;
    set_disabled(direct.store().as_ref(), &off.name, true).await;
    let e = Event::load("refresh")
        .json(json!({"refresh_token": off.refresh_token}))
        .source_ip(&unique_ip());
    call(refresh::handle, &deps, e.request()).await;
    r.note("refresh");

    // logout.
    let deps = helpers::logout(&f);
    let me = signed_in(direct.store(), direct.now()).await;
    let e = Event::load("logout").json(json!({"refresh_token": me.refresh_token}));
    call(logout::handle, &deps, e.request()).await;
    r.note("logout");

    // protected with SESSION_CHECK=true, and the authorizer.
    let me = signed_in(direct.store(), direct.now()).await;
    let deps = protected::Deps::build(protected::Settings::from_vars(f.vars()).unwrap(), f.keys())
        .unwrap()
        .checking_sessions(f.store(), f.clock());
    let e = Event::load("protected").header("authorization", Some(&me.bearer));
    call(protected::handle, &deps, e.request()).await;
    // Deployed, the session check is protected's handler built as protected-session.
    r.note("protected-session");
    let deps = authorizer::Deps::build(
        authorizer::Settings::from_vars(f.vars()).unwrap(),
        f.store(),
        f.keys(),
        f.clock(),
    )
    .unwrap();
    let mut event = Event::load("authorizer");
    event.0["headers"]["authorization"] = json!(me.bearer);
    authorizer::handle(&deps, &serde_json::from_value(event.0).unwrap()).await;
    r.note("authorizer");

    // The admin API on a user with a session: show, disable (revokes), end sessions.
    let (_, admin) = shared::testing::admin_caller(direct.store()).await;
    let target = signed_in(direct.store(), direct.now()).await;
    let admin_settings = || shared::admin::Settings::from_vars(f.vars()).unwrap();
    let deps =
        shared::admin::Deps::build(admin_settings(), f.store(), f.keys(), f.clock()).unwrap();
    let on = |event: &str, method: &str, path: String| {
        Event::load(event)
            .route(method, &path)
            .header("authorization", Some(&admin))
    };
    let e = on(
        "admin-get-user",
        "GET",
        format!("/admin/users/{}", target.name),
    );
    call(admin_get_user::handle, &deps, e.request()).await;
    r.note("admin-get-user");
    let e = on(
        "admin-update-user",
        "PATCH",
        format!("/admin/users/{}", target.name),
    )
    .json(json!({"disabled": true}));
    call(admin_update_user::handle, &deps, e.request()).await;
    // And another admin demoted: one transaction of the update and a check on the caller.
    let (other_admin, _) = shared::testing::admin_caller(direct.store()).await;
    let e = on(
        "admin-update-user",
        "PATCH",
        format!("/admin/users/{other_admin}"),
    )
    .json(json!({"roles": []}));
    let demoted = call(admin_update_user::handle, &deps, e.request()).await;
    assert_eq!(demoted.status(), 200, "{:?}", demoted.body());
    r.note("admin-update-user");
    let e = on(
        "admin-end-sessions",
        "DELETE",
        format!("/admin/users/{}/sessions", target.name),
    );
    call(admin_end_sessions::handle, &deps, e.request()).await;
    r.note("admin-end-sessions");

    // The account routes.
    let deps = account_deps(&f);
    let me = signed_in(direct.store(), direct.now()).await;
    let other = sign_in(direct.store(), &me.name, direct.now()).await;
    let with = |event: &str| Event::load(event).header("authorization", Some(&me.bearer));
    call(
        list_sessions::handle,
        &deps,
        with("list-sessions").request(),
    )
    .await;
    r.note("list-sessions");
    let e = with("end-session").route("DELETE", &format!("/sessions/{}", other.sid));
    call(end_session::handle, &deps, e.request()).await;
    r.note("end-session");
    let wrong = with("change-password")
        .json(json!({"current_password": "wrong", "new_password": "a brand new passphrase"}));
    call(change_password::handle, &deps, wrong.request()).await;
    let e = with("change-password")
        .json(json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}));
    call(change_password::handle, &deps, e.request()).await;
    r.note("change-password");
    call(
        end_all_sessions::handle,
        &deps,
        with("end-all-sessions").request(),
    )
    .await;
    r.note("end-all-sessions");
    let gone = signed_in(direct.store(), direct.now()).await;
    sign_in(direct.store(), &gone.name, direct.now()).await;
    let e = Event::load("delete-account")
        .header("authorization", Some(&gone.bearer))
        .json(json!({"password": PASSWORD}));
    call(delete_account::handle, &deps, e.request()).await;
    r.note("delete-account");
    assert!(
        direct.store().get(&gone.sid).await.unwrap().is_none(),
        "the deletion ran"
    );

    // The second factor. A login of a user with MFA stores a challenge and answers 403
    // mfa_required; POST /login/mfa then refuses a foreign token and a wrong code, and accepts
    // a TOTP code and a recovery code (each one transaction: the challenge spent, the code
    // consumed, the session stored), and refuses a replayed code.
    let login_deps = helpers::login(&f);
    let mfa_user = unique("mfa_");
    create_user(direct.store().as_ref(), &mfa_user, PASSWORD, &[]).await;
    let mfa = enable_mfa(direct.store().as_ref(), &mfa_user).await;
    let first = mfa_token(&login_deps, &mfa_user).await;
    let second = mfa_token(&login_deps, &mfa_user).await;
    let third = mfa_token(&login_deps, &mfa_user).await;
    r.note("login");
    let deps = login_mfa::Deps::build(
        login_mfa::Settings::from_vars(f.vars()).unwrap(),
        f.store(),
        f.keys(),
        f.mfa_key(),
        f.clock(),
    )
    .unwrap();
    let code = mfa.code(f.now());
    let foreign = login_mfa_event(json!({"mfa_token": "not.a-token", "code": code}));
    let refused = call(login_mfa::handle, &deps, foreign.request()).await;
    assert_eq!(refused.status(), 401, "{:?}", refused.body());
    let wrong = login_mfa_event(json!({"mfa_token": first, "code": wrong_code(&code)}));
    let refused = call(login_mfa::handle, &deps, wrong.request()).await;
    assert_eq!(refused.status(), 401, "{:?}", refused.body());
    let right = login_mfa_event(json!({"mfa_token": first, "code": code}));
    let accepted = call(login_mfa::handle, &deps, right.request()).await;
    assert_eq!(accepted.status(), 200, "{:?}", accepted.body());
    let e = login_mfa_event(json!({"mfa_token": second, "recovery_code": mfa.recovery_codes[0]}));
    let accepted = call(login_mfa::handle, &deps, e.request()).await;
    assert_eq!(accepted.status(), 200, "{:?}", accepted.body());
    let replayed = login_mfa_event(json!({"mfa_token": third, "code": code}));
    let refused = call(login_mfa::handle, &deps, replayed.request()).await;
    assert_eq!(refused.status(), 401, "{:?}", refused.body());
    r.note("login-mfa");

    // GET /account and the /mfa routes, on a user of their own: enroll, confirm (a wrong code,
    // then the right one), new recovery codes a time step later, and MFA off (without a code,
    // then with one) a step later still.
    let deps = account_deps(&f);
    let me = signed_in(direct.store(), direct.now()).await;
    let as_me = |event: &str| Event::load(event).header("authorization", Some(&me.bearer));
    let shown = call(account::handle, &deps, as_me("account").request()).await;
    assert_eq!(shown.status(), 200, "{:?}", shown.body());
    r.note("account");
    let e = as_me("mfa-enroll").json(json!({"password": PASSWORD}));
    let enrolled = call(mfa_enroll::handle, &deps, e.request()).await;
    assert_eq!(enrolled.status(), 200, "{:?}", enrolled.body());
    let secret = base32::decode(
        base32::Alphabet::Rfc4648 { padding: false },
        body_json(&enrolled)["secret"].as_str().unwrap(),
    )
    .unwrap();
    r.note("mfa-enroll");
    let code = totp_code(&secret, f.now());
    let e = as_me("mfa-confirm").json(json!({"code": wrong_code(&code)}));
    let refused = call(mfa_confirm::handle, &deps, e.request()).await;
    assert_eq!(refused.status(), 400, "{:?}", refused.body());
    let e = as_me("mfa-confirm").json(json!({ "code": code }));
    let confirmed = call(mfa_confirm::handle, &deps, e.request()).await;
    assert_eq!(confirmed.status(), 200, "{:?}", confirmed.body());
    r.note("mfa-confirm");
    let step = |n: u64| {
        let at = f.now() + 30 * n;
        (account_deps(&f.clone().at(at)), totp_code(&secret, at))
    };
    let (later, code) = step(1);
    let e = as_me("mfa-recovery-codes").json(json!({ "code": code }));
    let replaced = call(mfa_recovery_codes::handle, &later, e.request()).await;
    assert_eq!(replaced.status(), 200, "{:?}", replaced.body());
    r.note("mfa-recovery-codes");
    let (later, code) = step(2);
    let e = as_me("mfa-disable").json(json!({"password": PASSWORD}));
    let refused = call(mfa_disable::handle, &later, e.request()).await;
    assert_eq!(refused.status(), 403, "{:?}", refused.body());
    let e = as_me("mfa-disable").json(json!({"password": PASSWORD, "code": code}));
    let disabled = call(mfa_disable::handle, &later, e.request()).await;
    assert_eq!(disabled.status(), 204, "{:?}", disabled.body());
    r.note("mfa-disable");

    // The step-ups: a password change with a recovery code, an account deletion with a TOTP
    // code (each code consumed by a conditional write on the user).
    let session = sign_in(direct.store(), &mfa_user, direct.now()).await;
    let e = Event::load("change-password")
        .header("authorization", Some(&session.bearer))
        .json(json!({
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "code": mfa.recovery_codes[1],
        }));
    let changed = call(change_password::handle, &deps, e.request()).await;
    assert_eq!(changed.status(), 204, "{:?}", changed.body());
    r.note("change-password");
    let leaving = signed_in(direct.store(), direct.now()).await;
    let leaving_mfa = enable_mfa(direct.store().as_ref(), &leaving.name).await;
    let e = Event::load("delete-account")
        .header("authorization", Some(&leaving.bearer))
        .json(json!({"password": PASSWORD, "code": leaving_mfa.code(f.now())}));
    let deleted = call(delete_account::handle, &deps, e.request()).await;
    assert_eq!(deleted.status(), 204, "{:?}", deleted.body());
    r.note("delete-account");

    // An admin turns a user's second factor off (and revokes their sessions).
    let (_, admin) = shared::testing::admin_caller(direct.store()).await;
    let target = signed_in(direct.store(), direct.now()).await;
    enable_mfa(direct.store().as_ref(), &target.name).await;
    let deps =
        shared::admin::Deps::build(admin_settings(), f.store(), f.keys(), f.clock()).unwrap();
    let e = Event::load("admin-remove-mfa")
        .route("DELETE", &format!("/admin/users/{}/mfa", target.name))
        .header("authorization", Some(&admin));
    let removed = call(admin_remove_mfa::handle, &deps, e.request()).await;
    assert_eq!(removed.status(), 204, "{:?}", removed.body());
    r.note("admin-remove-mfa");

    // The contact channel: a registration with an address (its link mailed); a new address
    // given with the password (a wrong one, then the right one); its link sent again; the link
    // used (the address claimed), and used again (refused); a second address verified (the
    // first one's claim released in the same transaction); a forgotten password, for that
    // address and for an unknown one; the reset through its link (every session revoked), and
    // the link again (refused). The mails go to the local SES v2, not through the proxy.
    local_mailer().await;
    let address = |tag: &str| format!("{}@example.com", unique(tag));
    let deps = helpers::register(&f).with_contact(test_contact());
    let e = Event::load("register")
        .json(json!({"username": unique("iam_mail_"), "password": PASSWORD, "email": address("iam.reg.")}))
        .source_ip(&unique_ip());
    let created = call(register::handle, &deps, e.request()).await;
    assert_eq!(created.status(), 201, "{:?}", created.body());
    r.note("register");
    let deps = account_deps(&f);
    let me = signed_in(direct.store(), direct.now()).await;
    sign_in(direct.store(), &me.name, direct.now()).await;
    let (first, second) = (address("iam.first."), address("iam.second."));
    let give = |email: &str, password: &str| {
        me.event("email-change")
            .json(json!({"email": email, "password": password}))
    };
    let refused = call(email_change::handle, &deps, give(&first, "wrong").request()).await;
    assert_eq!(refused.status(), 401, "{:?}", refused.body());
    let given = call(
        email_change::handle,
        &deps,
        give(&first, PASSWORD).request(),
    )
    .await;
    assert_eq!(given.status(), 202, "{:?}", given.body());
    r.note("email-change");
    let resend = email_resend::Deps::build(
        email_resend::Settings::from_vars(f.vars()).unwrap(),
        f.store(),
        f.keys(),
        f.clock(),
    )
    .unwrap()
    .with_contact(test_contact());
    let resent = call(
        email_resend::handle,
        &resend,
        me.event("email-resend").request(),
    )
    .await;
    assert_eq!(resent.status(), 202, "{:?}", resent.body());
    r.note("email-resend");
    let verify = email_verify::Deps::build(
        email_verify::Settings::from_vars(f.vars()).unwrap(),
        f.store(),
        f.clock(),
    );
    let with_token = |token: &str| Event::load("email-verify").json(json!({ "token": token }));
    let now = stored(direct.store().as_ref(), &me.name).await;
    let token = mailed_link(&first, "verify-email", now.email.token.as_deref()).await;
    let verified = call(email_verify::handle, &verify, with_token(&token).request()).await;
    assert_eq!(verified.status(), 200, "{:?}", verified.body());
    let used = call(email_verify::handle, &verify, with_token(&token).request()).await;
    assert_eq!(used.status(), 400, "{:?}", used.body());
    r.note("email-verify");
    let given = call(
        email_change::handle,
        &deps,
        give(&second, PASSWORD).request(),
    )
    .await;
    assert_eq!(given.status(), 202, "{:?}", given.body());
    r.note("email-change");
    let now = stored(direct.store().as_ref(), &me.name).await;
    let token = mailed_link(&second, "verify-email", now.email.token.as_deref()).await;
    let verified = call(email_verify::handle, &verify, with_token(&token).request()).await;
    assert_eq!(verified.status(), 200, "{:?}", verified.body());
    r.note("email-verify");
    let forgot = password_forgot::Deps::build(
        password_forgot::Settings::from_vars(f.vars()).unwrap(),
        f.store(),
        f.clock(),
    )
    .unwrap()
    .with_contact(test_contact());
    for email in [second.clone(), address("iam.nobody.")] {
        let e = Event::load("password-forgot")
            .json(json!({ "email": email }))
            .source_ip(&unique_ip());
        let answer = call(password_forgot::handle, &forgot, e.request()).await;
        assert_eq!(answer.status(), 202, "{:?}", answer.body());
    }
    r.note("password-forgot");
    let reset = password_reset::Deps::build(
        password_reset::Settings::from_vars(f.vars()).unwrap(),
        f.store(),
        f.clock(),
    )
    .unwrap()
    .with_contact(test_contact());
    let now = stored(direct.store().as_ref(), &me.name).await;
    let token = mailed_link(&second, "reset-password", now.email.reset_token.as_deref()).await;
    let with_token = |token: &str| {
        Event::load("password-reset")
            .json(json!({"token": token, "new_password": "a brand new passphrase"}))
    };
    let done = call(password_reset::handle, &reset, with_token(&token).request()).await;
    assert_eq!(done.status(), 200, "{:?}", done.body());
    let used = call(password_reset::handle, &reset, with_token(&token).request()).await;
    assert_eq!(used.status(), 400, "{:?}", used.body());
    r.note("password-reset");
    assert!(
        direct.store().get(&me.sid).await.unwrap().unwrap().revoked,
        "the reset revoked the sessions"
    );
    // The pages touch no table.
    let pages = pages::Deps::build(pages::Settings::from_vars(f.vars()).unwrap()).unwrap();
    for event in ["pages-verify", "pages-reset"] {
        let page = call(pages::handle, &pages, Event::load(event).request()).await;
        assert_eq!(page.status(), 200, "{event}");
    }
    r.note("pages");
    assert!(!r.seen.contains_key("pages"), "{:?}", r.seen.get("pages"));

    let (allowed, limited) = allowed();
    let mut denied = Vec::new();
    for (function, calls) in &r.seen {
        let grants = allowed
            .get(*function)
            .unwrap_or_else(|| panic!("{function} not in the template"));
        for c in calls.iter().filter(|c| !grants.contains(c)) {
            denied.push(format!("{function}: {} on {}", c.0, c.1));
        }
    }
    assert!(
        denied.is_empty(),
        "calls the template does not allow: {denied:#?}"
    );
    // Attribute level: every write to the users table is limited to the attributes it names
    // (so no function but its own can write a password hash, roles or disabled), and names
    // no other.
    let mut beyond = Vec::new();
    for ((function, grant), attributes) in &r.written {
        match limited.get(&(function.to_string(), grant.clone())) {
            Some(allowed) => {
                let extra: Vec<_> = attributes.difference(allowed).collect();
                if !extra.is_empty() {
                    beyond.push(format!("{function}: {} on {}: {extra:?}", grant.0, grant.1));
                }
            }
            None if grant.1 == "UsersTable" => {
                beyond.push(format!("{function}: {} on users, not limited", grant.0));
            }
            None => {}
        }
    }
    assert!(
        beyond.is_empty(),
        "writes beyond their attributes: {beyond:#?}"
    );
    let users_writers: BTreeSet<_> = r
        .written
        .keys()
        .filter(|(_, grant)| grant.1 == "UsersTable")
        .map(|(function, _)| *function)
        .collect();
    for function in [
        "register",
        "login",
        "change-password",
        "delete-account",
        "admin-update-user",
        "end-all-sessions",
        "login-mfa",
        "mfa-enroll",
        "mfa-confirm",
        "mfa-recovery-codes",
        "mfa-disable",
        "admin-remove-mfa",
        "email-change",
        "email-resend",
        "email-verify",
        "password-forgot",
        "password-reset",
    ] {
        assert!(
            users_writers.contains(function),
            "{function}'s write was seen"
        );
    }
    // The recording worked: the busiest paths were seen.
    assert!(r.seen["login"].len() >= 4, "{:?}", r.seen["login"]);
    assert!(
        r.seen["delete-account"]
            .iter()
            .any(|c| c.0 == "dynamodb:DeleteItem")
    );
    // A login of a user with a second factor stores its challenge; the second step is one
    // transaction of an update of the challenge, one of the user and a put of the session.
    let put = |table: &str| ("dynamodb:PutItem".to_owned(), table.to_owned());
    let update = |table: &str| ("dynamodb:UpdateItem".to_owned(), table.to_owned());
    assert!(r.seen["login"].contains(&put("RateLimitTable")));
    for grant in [
        update("RateLimitTable"),
        update("UsersTable"),
        put("SessionsTable"),
    ] {
        assert!(r.seen["login-mfa"].contains(&grant), "{grant:?}");
    }
    // A verification is one transaction of the user's update, the claim's put and, for a
    // replaced address, the old claim's delete.
    let delete = ("dynamodb:DeleteItem".to_owned(), "UsersTable".to_owned());
    for grant in [update("UsersTable"), put("UsersTable"), delete] {
        assert!(r.seen["email-verify"].contains(&grant), "{grant:?}");
    }
    // The register write with an address names its pending address and link.
    let registered = &r.written[&("register", put("UsersTable"))];
    assert!(registered.contains("email_pending"), "{registered:?}");
}
