//! What the reset tests share: the handler, the function assembled as `main` assembles it (with
//! the local SES v2), a user with a verified address, and reset links made as
//! `POST /password/forgot` makes them.

use lambda_http::{Body, Request, Response};
use password_reset::{Deps, Settings};
use serde_json::{Map, Value, json};
use shared::account::password_field;
use shared::store::{PendingEmail, UserStore, VerifyOutcome};
use shared::testing::{
    Event, Fixture, call, create_user, local_mailer, stored, test_contact, unique, user_id_of,
};

/// The password every test user starts with.
pub const OLD_PASSWORD: &str = "correct horse battery";
/// A password the registration rules accept.
pub const NEW_PASSWORD: &str = "a new and longer passphrase";

/// The handler under test; every response is also recorded for the OpenAPI contract check.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    call(password_reset::handle, deps, req).await
}

/// The function assembled as `main` assembles it, on the local SES v2.
pub async fn deps_from(f: &Fixture) -> Deps {
    local_mailer().await;
    Deps::build(Settings::from_vars(f.vars()).unwrap(), f.store(), f.clock())
        .unwrap()
        .with_contact(test_contact())
}

/// A new user with a verified address: (username, address).
pub async fn with_verified_address(f: &Fixture) -> (String, String) {
    let name = unique("reset_");
    create_user(f.store().as_ref(), &name, OLD_PASSWORD, &[]).await;
    let address = format!("{}@Example.com", unique("Reset."));
    let key = name.to_lowercase();
    let (token, hash) = shared::keyed_token::new(&key).unwrap();
    let pending = PendingEmail {
        address: address.clone(),
        token: hash.clone(),
        expires_at: f.now() + 600,
    };
    let store = f.store();
    assert!(
        store
            .set_pending_email(&key, &user_id_of(&name), &pending)
            .await
            .unwrap()
    );
    let user = stored(store.as_ref(), &name).await;
    let (_, hash) = shared::keyed_token::parse(&token, 512).unwrap();
    let outcome = store
        .verify_email(&key, &user, &hash, f.now())
        .await
        .unwrap();
    assert_eq!(outcome, VerifyOutcome::Verified(address.clone()));
    (name, address)
}

/// A new reset link for `name`, valid for `ttl` seconds from the fixture's now, as
/// `POST /password/forgot` stores it: its token.
pub async fn link(f: &Fixture, name: &str, ttl: u64) -> String {
    let key = name.to_lowercase();
    let (token, hash) = shared::keyed_token::new(&key).unwrap();
    let written = f
        .store()
        .set_reset(&key, &user_id_of(name), &hash, f.now() + ttl)
        .await
        .unwrap();
    assert!(written, "{name} exists");
    token
}

/// `POST /password/reset` with this body.
pub fn reset_with(body: Value) -> Request {
    Event::load("password-reset").json(body).request()
}

/// `POST /password/reset` with `token` and `new_password`.
pub fn reset(token: &str, new_password: &str) -> Request {
    reset_with(json!({"token": token, "new_password": new_password}))
}

/// Whether `password` is `name`'s password now.
pub async fn password_is(deps: &Deps, f: &Fixture, name: &str, password: &str) -> bool {
    let mut body = Map::new();
    body.insert("p".into(), Value::String(password.to_owned()));
    let password = password_field(&body, "p", name).unwrap();
    let hash = stored(f.store().as_ref(), name).await.password_hash;
    deps.passwords.verify(&password, Some(&hash)).await.unwrap()
}
