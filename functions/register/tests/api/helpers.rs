//! What the register tests share: the handler, and the function assembled as `main` assembles
//! it (with or without a contact channel).

use register::{Deps, Settings};
use shared::testing::{Fixture, call, test_contact};

/// The handler under test; every response is also recorded for the OpenAPI contract check.
pub async fn handle(
    deps: &Deps,
    req: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    call(register::handle, deps, req).await
}

/// The function assembled as `main` assembles it, from the fixture's parts, on a stack with no
/// mail configured.
pub fn deps_from(f: &Fixture) -> Deps {
    Deps::build(Settings::from_vars(f.vars()).unwrap(), f.store(), f.clock()).unwrap()
}

/// [`deps_from`] with the local server's SES v2 as its contact channel.
pub fn deps_with_mail(f: &Fixture) -> Deps {
    deps_from(f).with_contact(test_contact())
}

/// The link token of the one verification mail sent to `address` (the text after `#token=`).
pub async fn link_token(address: &str) -> String {
    let mails = shared::testing::mails_to(address).await;
    assert_eq!(mails.len(), 1, "one mail to {address}: {mails:?}");
    assert_eq!(mails[0].subject, "Confirm your email address");
    token_in(&mails[0].body)
}

/// The token of the link in a mail's text.
pub fn token_in(text: &str) -> String {
    let link = format!(
        "{}/verify-email#token=",
        shared::testing::TEST_PUBLIC_BASE_URL
    );
    let (_, rest) = text
        .split_once(&link)
        .unwrap_or_else(|| panic!("a verification link in {text:?}"));
    rest.split_whitespace().next().unwrap().to_owned()
}
