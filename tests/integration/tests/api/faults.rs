//! Fault injection against the real local DynamoDB-compatible server, through a proxy that
//! throttles, fails, hangs or loses answers on chosen requests (`shared::testing::faults`):
//! every function that talks to DynamoDB answers 503 `service_unavailable` with `Retry-After`,
//! leaves no partial state behind, and a write whose answer was lost is neither reported as a
//! conflict nor lost.

use serde_json::json;
use shared::store::{SessionStore, UserStore};
use shared::testing::faults::{Action, FaultProxy};
use shared::testing::{Event, Fixture, body_json, call, local_endpoint, tables, unique};
use shared::unix_now;

use crate::helpers::{self, FAULTS, assert_unavailable, failing, login_event, token_event};

const PASSWORD: &str = "correct horse battery staple";

/// A user and a session of theirs, started straight on the local server: the session's id and
/// first refresh token.
async fn start_session() -> (String, String) {
    let f = Fixture::local().await;
    let name = unique("someone_");
    shared::testing::create_user(f.store().as_ref(), &name, PASSWORD, &[]).await;
    helpers::logout(&f)
        .sessions
        .start(&shared::testing::user_id_of(&name), &name, unix_now())
        .await
        .unwrap()
}

fn register_event(name: &str) -> Event {
    Event::load("register").json(json!({"username": name, "password": PASSWORD}))
}

/// A registered user, written straight to the local server.
async fn registered_user() -> String {
    let name = unique("faulty_");
    let healthy = helpers::register(&Fixture::local().await);
    assert_eq!(
        call(register::handle, &healthy, register_event(&name).request())
            .await
            .status(),
        201
    );
    name
}

#[tokio::test]
async fn register_answers_503_on_every_fault_and_creates_no_user() {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let healthy = Fixture::local().await.store();
    for (fault, case) in FAULTS {
        proxy.always(fault);
        let name = unique("never_");
        let deps = helpers::register(&Fixture::behind(&proxy.endpoint).await);
        assert_unavailable(
            &call(register::handle, &deps, register_event(&name).request()).await,
            case,
        );
        assert!(
            healthy.find(&name.to_lowercase()).await.unwrap().is_none(),
            "{case}: no user"
        );
    }
    let deps = helpers::register(&Fixture::unreachable().await);
    let name = unique("never_");
    assert_unavailable(
        &call(register::handle, &deps, register_event(&name).request()).await,
        "refused",
    );
    assert!(
        healthy.find(&name.to_lowercase()).await.unwrap().is_none(),
        "refused: no user"
    );
}

#[tokio::test]
async fn login_answers_503_on_every_fault_in_either_wave() {
    let name = registered_user().await;
    let proxy = FaultProxy::start(&local_endpoint()).await;
    for (fault, case) in FAULTS {
        // First wave: rate-limit counters and the user read. Failing closed: no password check.
        proxy.always(fault);
        let deps = helpers::login(&Fixture::behind(&proxy.endpoint).await);
        assert_unavailable(
            &call(login::handle, &deps, login_event(&name, PASSWORD).request()).await,
            case,
        );
        // Second wave: the session write after a correct password.
        proxy.plan(failing("PutItem", fault));
        assert_unavailable(
            &call(login::handle, &deps, login_event(&name, PASSWORD).request()).await,
            case,
        );
    }
    let deps = helpers::login(&Fixture::unreachable().await);
    assert_unavailable(
        &call(login::handle, &deps, login_event(&name, PASSWORD).request()).await,
        "refused",
    );
}

#[tokio::test]
async fn refresh_answers_503_on_every_fault_and_leaves_the_session_unrotated() {
    let healthy = Fixture::local().await.store();
    let proxy = FaultProxy::start(&local_endpoint()).await;
    for (fault, case) in FAULTS {
        let (sid, token) = start_session().await;
        // Requests: rate-limit UpdateItem, session GetItem, then the rotation UpdateItem (#2)
        // and the SDK's retries of it.
        proxy.plan(move |n, _| if n >= 2 { fault } else { Action::Forward });
        let deps = helpers::refresh(&Fixture::behind(&proxy.endpoint).await);
        assert_unavailable(
            &call(
                refresh::handle,
                &deps,
                token_event("refresh", &token).request(),
            )
            .await,
            case,
        );
        let session = healthy.get(&sid).await.unwrap().unwrap();
        assert_eq!(
            (session.generation, session.revoked),
            (0, false),
            "{case}: not rotated"
        );
        let again = helpers::refresh(&Fixture::local().await);
        let response = call(
            refresh::handle,
            &again,
            token_event("refresh", &token).request(),
        )
        .await;
        assert_eq!(response.status(), 200, "{case}: the same token still works");
    }
    let deps = helpers::refresh(&Fixture::unreachable().await);
    assert_unavailable(
        &call(
            refresh::handle,
            &deps,
            token_event("refresh", "rt1_x").request(),
        )
        .await,
        "refused",
    );
}

#[tokio::test]
async fn logout_answers_503_on_every_fault_and_leaves_the_session_live() {
    let healthy = Fixture::local().await.store();
    let proxy = FaultProxy::start(&local_endpoint()).await;
    for (fault, case) in FAULTS {
        let (sid, token) = start_session().await;
        proxy.always(fault);
        let deps = helpers::logout(&Fixture::behind(&proxy.endpoint).await);
        assert_unavailable(
            &call(
                logout::handle,
                &deps,
                token_event("logout", &token).request(),
            )
            .await,
            case,
        );
        assert!(
            !healthy.get(&sid).await.unwrap().unwrap().revoked,
            "{case}: still live"
        );
    }
}

#[tokio::test]
async fn a_registration_whose_answer_was_lost_is_not_a_conflict() {
    let proxy = FaultProxy::start(&local_endpoint()).await;
    proxy.plan(|n, op| {
        if n == 0 && op == "PutItem" {
            Action::ForwardThenFail
        } else {
            Action::Forward
        }
    });
    let deps = helpers::register(&Fixture::behind(&proxy.endpoint).await);
    let name = unique("lost_");

    let response = call(register::handle, &deps, register_event(&name).request()).await;

    assert_eq!(response.status(), 201, "{}", body_json(&response));
    assert!(
        Fixture::local()
            .await
            .store()
            .find(&name.to_lowercase())
            .await
            .unwrap()
            .is_some()
    );
    // And a real second registration is still a conflict.
    proxy.always(Action::Forward);
    assert_eq!(
        call(register::handle, &deps, register_event(&name).request())
            .await
            .status(),
        409
    );
}

#[tokio::test]
async fn a_rotation_whose_answer_was_lost_is_neither_lost_nor_taken_for_reuse() {
    let healthy = Fixture::local().await.store();
    let (sid, token) = start_session().await;
    let proxy = FaultProxy::start(&local_endpoint()).await;
    proxy.plan(|n, _| {
        if n == 2 {
            Action::ForwardThenFail
        } else {
            Action::Forward
        }
    });
    let deps = helpers::refresh(&Fixture::behind(&proxy.endpoint).await);

    let response = call(
        refresh::handle,
        &deps,
        token_event("refresh", &token).request(),
    )
    .await;

    assert_eq!(response.status(), 200, "{}", body_json(&response));
    let session = healthy.get(&sid).await.unwrap().unwrap();
    assert_eq!((session.generation, session.revoked), (1, false));
    let next = body_json(&response)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = call(
        refresh::handle,
        &helpers::refresh(&Fixture::local().await),
        token_event("refresh", &next).request(),
    )
    .await;
    assert_eq!(again.status(), 200, "the minted generation is the live one");
}

#[tokio::test]
async fn a_login_whose_session_write_answer_was_lost_still_succeeds() {
    let name = registered_user().await;
    let proxy = FaultProxy::start(&local_endpoint()).await;
    let mut lost = false;
    proxy.plan(move |_, op| {
        if op == "PutItem" && !lost {
            lost = true;
            return Action::ForwardThenFail;
        }
        Action::Forward
    });
    let deps = helpers::login(&Fixture::behind(&proxy.endpoint).await);

    let response = call(login::handle, &deps, login_event(&name, PASSWORD).request()).await;

    assert_eq!(response.status(), 200, "{}", body_json(&response));
    let refresh_token = body_json(&response)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = call(
        refresh::handle,
        &helpers::refresh(&Fixture::local().await),
        token_event("refresh", &refresh_token).request(),
    )
    .await;
    assert_eq!(rotated.status(), 200, "the session really exists");
}

/// Sends one DynamoDB `GetItem` request to `endpoint` as the SDK would send its `attempt`-th
/// try, and waits for the answer.
async fn get_item_attempt(endpoint: &str, attempt: u32) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = json!({"TableName": tables().users, "Key": {"pk": {"S": "nobody"}}}).to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nhost: local\r\ncontent-type: application/x-amz-json-1.0\r\n\
         x-amz-target: DynamoDB_20120810.GetItem\r\namz-sdk-request: attempt={attempt}; max=3\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(endpoint.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 500"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn the_proxy_records_a_call_once_whatever_its_retries() {
    // The SDK retries a 500 on its own (its `amz-sdk-request` header counts the attempts):
    // tests that compare the calls of two paths (password-forgot's
    // `every_address_makes_the_same_store_calls`) must not count a retry that a hiccup of the
    // local server caused as a call of the code's. Sent by hand: whether the SDK retries
    // depends on its retry quota, which the other fault tests of this process spend.
    let proxy = FaultProxy::start(&local_endpoint()).await;
    proxy.always(Action::ServerError);

    for attempt in 1..=3 {
        get_item_attempt(&proxy.endpoint, attempt).await;
    }

    let calls = proxy.take_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].operation, "GetItem");
    assert_eq!(calls[0].table, tables().users);
}
