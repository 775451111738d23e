//! The pages a mail's link opens: each asset with its content type, the exact policy and the
//! headers every answer carries; HTML with no inline script or style and what the pages need to
//! be used with a keyboard and on a phone; JSON 404s and 405s.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lambda_http::{Body, Request, Response};
use pages::{ASSETS, Deps, Settings};
use shared::testing::{Event, body_json, call, test_vars};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The handler under test; every response is also recorded for the OpenAPI contract check.
async fn handle(req: Request) -> Response<Body> {
    let deps = Deps::build(Settings::from_vars(&test_vars()).unwrap()).unwrap();
    call(pages::handle, &deps, req).await
}

/// `GET path`, from the verify page's sample event.
fn get(path: &str) -> Request {
    Event::load("pages-verify").route("GET", path).request()
}

fn text(response: &Response<Body>) -> String {
    String::from_utf8(response.body().as_ref().to_vec()).unwrap()
}

#[tokio::test]
async fn the_sample_events_get_the_two_pages() {
    for (event, title) in [
        ("pages-verify", "<title>Confirm your email address</title>"),
        ("pages-reset", "<title>Choose a new password</title>"),
    ] {
        let response = handle(Event::load(event).request()).await;
        assert_eq!(response.status(), 200, "{event}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        assert!(text(&response).contains(title), "{event}");
    }
}

#[tokio::test]
async fn every_asset_has_its_content_type_the_exact_policy_and_the_usual_headers() {
    let want = [
        ("/verify-email", "text/html; charset=utf-8"),
        ("/reset-password", "text/html; charset=utf-8"),
        ("/pages/app.js", "text/javascript; charset=utf-8"),
        ("/pages/app.css", "text/css; charset=utf-8"),
    ];
    assert_eq!(ASSETS.len(), want.len());
    for (path, content_type) in want {
        let response = handle(get(path)).await;
        assert_eq!(response.status(), 200, "{path}");
        let h = response.headers();
        assert_eq!(h["content-type"], content_type, "{path}");
        assert_eq!(h["content-security-policy"], CSP, "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(
            h["strict-transport-security"], "max-age=31536000; includeSubDomains",
            "{path}"
        );
        assert!(matches!(response.body(), Body::Text(_)), "text: {path}");
        assert!(!text(&response).is_empty(), "{path}");
    }
}

#[tokio::test]
async fn the_html_has_no_inline_script_or_style_and_loads_only_our_own_files() {
    for path in ["/verify-email", "/reset-password"] {
        let html = text(&handle(get(path)).await).to_lowercase();
        let scripts: Vec<&str> = html.split("<script").skip(1).collect();
        assert_eq!(scripts.len(), 1, "{path}: one script");
        for script in scripts {
            let (tag, rest) = script.split_once('>').unwrap();
            assert!(tag.contains("src=\"pages/app.js\""), "{path}: {tag}");
            assert!(rest.starts_with("</script>"), "{path}: no inline body");
        }
        assert!(!html.contains("<style"), "{path}: no style element");
        assert!(!html.contains("style="), "{path}: no style attribute");
        let handlers: Vec<&str> = html
            .split('<')
            .filter_map(|tag| tag.split('>').next())
            .flat_map(str::split_whitespace)
            .filter(|attribute| attribute.starts_with("on") && attribute.contains('='))
            .collect();
        assert!(
            handlers.is_empty(),
            "{path}: event handler attributes {handlers:?}"
        );
        assert!(!html.contains("javascript:"), "{path}");
        assert!(html.contains("<link rel=\"stylesheet\" href=\"pages/app.css\">"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{path}: no third party"
        );
    }
}

#[tokio::test]
async fn the_pages_work_with_a_keyboard_a_screen_reader_and_on_a_phone() {
    for path in ["/verify-email", "/reset-password"] {
        let html = text(&handle(get(path)).await);
        assert!(html.starts_with("<!doctype html>"), "{path}");
        assert!(html.contains("<html lang=\"en\">"), "{path}");
        assert!(
            html.contains(
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            ),
            "{path}"
        );
        assert!(
            html.contains("role=\"status\" aria-live=\"polite\""),
            "{path}: a status region"
        );
        assert!(
            !html.contains("tabindex=\"-"),
            "{path}: nothing taken out of the tab order"
        );
    }
    let reset = text(&handle(get("/reset-password")).await);
    for id in ["new-password", "confirm-password"] {
        assert!(
            reset.contains(&format!("<label for=\"{id}\">")),
            "{id} has a label"
        );
        let input = reset
            .split("<input")
            .find(|tag| tag.contains(&format!("id=\"{id}\"")))
            .unwrap();
        assert!(input.contains("type=\"password\""), "{id}");
        assert!(input.contains("autocomplete=\"new-password\""), "{id}");
    }
    assert!(reset.contains("<button id=\"submit\" type=\"submit\">"));
}

#[tokio::test]
async fn the_script_takes_the_token_from_the_fragment_and_calls_only_this_api() {
    let js = text(&handle(get("/pages/app.js")).await);
    assert!(js.contains("window.location.hash"));
    assert!(
        js.contains("history.replaceState"),
        "the token leaves the address bar"
    );
    assert!(js.contains("post(\"email/verify\""));
    assert!(js.contains("post(\"password/reset\""));
    assert!(
        js.contains("details.new_password"),
        "the API's own messages"
    );
    for banned in [
        "http://",
        "https://",
        "eval(",
        "innerHTML",
        "document.write",
        "localStorage",
    ] {
        assert!(!js.contains(banned), "{banned}");
    }
    let css = text(&handle(get("/pages/app.css")).await);
    for banned in ["@import", "url("] {
        assert!(!css.contains(banned), "css: {banned}");
    }
}

#[tokio::test]
async fn another_method_is_405_json_with_allow_get() {
    for path in ["/verify-email", "/pages/app.js"] {
        let request = Event::load("pages-reset").route("POST", path).request();
        let response = handle(request).await;
        assert_eq!(response.status(), 405, "{path}");
        assert_eq!(response.headers()["allow"], "GET", "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(body_json(&response)["error"], "method_not_allowed");
    }
}

#[tokio::test]
async fn an_unknown_asset_is_404_json() {
    for path in [
        "/pages/other.js",
        "/pages/",
        "/pages/app.js/x",
        "/reset-password/",
    ] {
        let response = handle(get(path)).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(body_json(&response)["error"], "not_found", "{path}");
    }
}
