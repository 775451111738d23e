//! What the forgot tests share: the handler, the function assembled as `main` assembles it
//! (with the local SES v2), users with a verified or a pending address, and the links mailed.

use lambda_http::{Body, Request, Response};
use password_forgot::{Deps, Settings};
use serde_json::json;
use shared::account::Contact;
use shared::store::{PendingEmail, UserRecord, UserStore, VerifyOutcome};
use shared::testing::{
    Event, Fixture, call, create_user, local_mailer, mails_to, stored, test_contact, unique,
    unique_ip, user_id_of,
};

/// The handler under test; every response is also recorded for the OpenAPI contract check.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    call(password_forgot::handle, deps, req).await
}

/// The function assembled as `main` assembles it, with no mail configured.
pub fn deps_without_mail(f: &Fixture) -> Deps {
    Deps::build(Settings::from_vars(f.vars()).unwrap(), f.store(), f.clock()).unwrap()
}

/// The function with `contact` as its contact channel.
pub fn deps_with(f: &Fixture, contact: Contact) -> Deps {
    deps_without_mail(f).with_contact(contact)
}

/// The function on the local SES v2 (its sender identity verified there).
pub async fn deps_from(f: &Fixture) -> Deps {
    local_mailer().await;
    deps_with(f, test_contact())
}

/// A fresh address no one has given, in mixed case.
pub fn address() -> String {
    format!("{}@Example.com", unique("Forgot."))
}

/// A new user whose address `address` waits for its verification link: (username, address).
pub async fn with_pending_address(f: &Fixture) -> (String, String) {
    let name = unique("forgot_");
    create_user(f.store().as_ref(), &name, "correct horse battery", &[]).await;
    let address = address();
    pending(f, &name, &address).await;
    (name, address)
}

/// Gives `name` the pending address `address`: its link's token.
async fn pending(f: &Fixture, name: &str, address: &str) -> String {
    let key = name.to_lowercase();
    let (token, hash) = shared::keyed_token::new(&key).unwrap();
    let pending = PendingEmail {
        address: address.to_owned(),
        token: hash,
        expires_at: f.now() + 600,
    };
    let written = f
        .store()
        .set_pending_email(&key, &user_id_of(name), &pending)
        .await
        .unwrap();
    assert!(written, "{name} exists");
    token
}

/// A new user with a verified address: (username, address as verified).
pub async fn with_verified_address(f: &Fixture) -> (String, String) {
    let (name, address) = with_pending_address(f).await;
    verify(f, &name, &address).await;
    (name, address)
}

/// Verifies the address `address`, made pending for `name` here.
async fn verify(f: &Fixture, name: &str, address: &str) {
    let token = pending(f, name, address).await;
    let (key, hash) = shared::keyed_token::parse(&token, 512).unwrap();
    let user = stored(f.store().as_ref(), name).await;
    let outcome = f
        .store()
        .verify_email(&key, &user, &hash, f.now())
        .await
        .unwrap();
    assert_eq!(outcome, VerifyOutcome::Verified(address.to_owned()));
}

/// `POST /password/forgot` for `address` from `ip`.
pub fn forgot(address: &str, ip: &str) -> Request {
    Event::load("password-forgot")
        .json(json!({"email": address}))
        .source_ip(ip)
        .request()
}

/// Sends [`forgot`] from a fresh source IP.
pub async fn ask(deps: &Deps, address: &str) -> Response<Body> {
    handle(deps, forgot(address, &unique_ip())).await
}

/// The link tokens in the mails sent to `address` so far.
pub async fn mailed_tokens(address: &str) -> Vec<String> {
    mails_to(address)
        .await
        .iter()
        .map(|mail| token_in(&mail.body))
        .collect()
}

/// The token of the reset link in a mail's body.
pub fn token_in(body: &str) -> String {
    let (_, rest) = body
        .split_once("/reset-password#token=")
        .unwrap_or_else(|| panic!("a reset link in {body:?}"));
    rest.split_whitespace().next().unwrap().to_owned()
}

/// Whether `token` is the current reset link of `user`, as `POST /password/reset` checks it.
pub fn is_current_link(user: &UserRecord, token: &str, now: u64) -> bool {
    let (key, hash) = shared::keyed_token::parse(token, 512).unwrap();
    key == user.username.to_lowercase()
        && user.email.reset_token.as_deref() == Some(hash.as_str())
        && user.email.reset_expires_at > now
}

/// The user `name` as stored now.
pub async fn user(f: &Fixture, name: &str) -> UserRecord {
    stored(f.store().as_ref(), name).await
}

/// Nothing is stored under the key the unknown addresses' link write uses.
pub async fn assert_nothing_under_the_impossible_key(f: &Fixture) {
    assert!(f.store().find("#no-user").await.unwrap().is_none());
}

/// An answer as bytes: status, header names and values (sorted), body.
pub type Parts = (u16, Vec<(String, Vec<u8>)>, Vec<u8>);

/// The [`Parts`] of an answer, to compare answers byte for byte.
pub fn parts(response: &Response<Body>) -> Parts {
    let mut headers: Vec<(String, Vec<u8>)> = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    headers.sort();
    (
        response.status().as_u16(),
        headers,
        response.body().as_ref().to_vec(),
    )
}
