#!/usr/bin/env python3
"""The pages a mail's link opens, in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by selenium) against the local stack that `cargo lambda watch` serves.

Usage: python3 tests/browser.py http://127.0.0.1:PORT [TEST_NAME ...]
(`make e2e-browser` / `make test` start the stack and install the browser; names pick some
tests, by default all run).

The links come from the mails the stack sent: the local server that is its DynamoDB is its SES v2
too (`AWS_ENDPOINT_URL_SESV2`, else `AWS_ENDPOINT_URL_DYNAMODB`), and lists every message it
accepted at `/moto-api/data.json`. Their base is `PUBLIC_BASE_URL`, which the test stack sets to
its own URL. Each test registers its own user with a fresh address. Prints one line per test and
a closing `browser: N passed, N failed`; exit status 1 if any test failed. With
`E2E_SECRETS_FILE` set, every password typed and token received is appended to it, for the log
check after a run (scripts/check_logs.py; it reads the link tokens from the mails itself).
"""
from __future__ import annotations

import json
import os
import sys
import urllib.request
import uuid

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

BASE = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:9000"
MAIL_SERVER = (os.environ.get("AWS_ENDPOINT_URL_SESV2") or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or "").rstrip("/")
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase for the browser"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
# A phone's viewport (CSS pixels): the pages must read well without sideways scrolling.
PHONE = (412, 915)
WAIT_SECONDS = 30

SECRETS: set[str] = set()


# --- HTTP: tests/e2e.py's helpers (the same BASE, from the same first argument) -------------

from e2e import expect, header, send  # noqa: E402 - after BASE, which e2e.py reads the same way


def call(method: str, path: str, body: dict | None = None, headers: dict | None = None):
    """`send` with the body and headers optional."""
    return send(method, path, body, headers)

# --- users, mails and links -------------------------------------------------------------------


def new_user_with_email() -> tuple[str, str]:
    """Registers a fresh user with a fresh address; returns (username, address)."""
    username = "browser_" + uuid.uuid4().hex[:10]
    address = f"{username}@Example.com"
    SECRETS.add(PASSWORD)
    status, _, body = call("POST", "/register", {"username": username, "password": PASSWORD, "email": address})
    expect(status == 201, f"setup: register {username}: status {status} {body!r}")
    return username, address


def login(username: str, password: str) -> tuple[int, dict]:
    """POST /login: (status, answer)."""
    SECRETS.add(password)
    status, _, body = call("POST", "/login", {"username": username, "password": password})
    answer = json.loads(body)
    for field in ("access_token", "refresh_token", "mfa_token"):
        if answer.get(field):
            SECRETS.add(answer[field])
    return status, answer


def mails_to(address: str) -> list[dict]:
    """Every mail the local SES v2 accepted for `address` (case-insensitively), as moto keeps
    them: `destinations.ToAddresses`, `subject`, `body`."""
    expect(bool(MAIL_SERVER), "AWS_ENDPOINT_URL_SESV2 or AWS_ENDPOINT_URL_DYNAMODB names the local server")
    with urllib.request.urlopen(MAIL_SERVER + "/moto-api/data.json", timeout=60) as r:  # noqa: S310 - loopback
        data = json.load(r)
    found, stack = [], [data.get("ses", {}).get("Message", {})]
    while stack:
        node = stack.pop()
        if isinstance(node, dict) and "destinations" in node:
            to = node["destinations"].get("ToAddresses", [])
            if any(t.lower() == address.lower() for t in to):
                found.append(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def link_in_mail(address: str, subject: str, page: str) -> str:
    """The link to `page` in the one mail titled `subject` sent to `address`."""
    mails = [m for m in mails_to(address) if m.get("subject") == subject]
    expect(len(mails) == 1, f"one mail {subject!r} to {address}, not {len(mails)}")
    prefix = f"{BASE}/{page}#token="
    links = [word for word in str(mails[0].get("body", "")).split() if word.startswith(prefix)]
    expect(len(links) == 1, f"one link {prefix}... in the mail: {mails[0].get('body')!r}")
    return links[0]


def token_of(link: str) -> str:
    return link.split("#token=", 1)[1]


def verified_user() -> tuple[str, str]:
    """A fresh user whose address is verified through the API (the link from its mail)."""
    username, address = new_user_with_email()
    token = token_of(link_in_mail(address, "Confirm your email address", "verify-email"))
    status, _, body = call("POST", "/email/verify", {"token": token})
    expect(status == 200, f"setup: verify {address}: status {status} {body!r}")
    return username, address


# --- the browser ------------------------------------------------------------------------------


def start_browser():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     f"--window-size={PHONE[0]},{PHONE[1]}", "--disable-extensions"):
        options.add_argument(argument)
    # The console, CSP violations included, for driver.get_log("browser").
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


DRIVER = None


def driver():
    global DRIVER
    if DRIVER is None:
        DRIVER = start_browser()
    return DRIVER


def console(d) -> list[dict]:
    """The console entries since the last call (reading them clears them)."""
    return d.get_log("browser")


def expect_clean_console(entries: list[dict], allowed: tuple[str, ...] = ()):
    """No CSP violation at all, and no error or warning but the `allowed` ones (messages holding
    one of those strings: a 4xx answer a test asks for is logged as a failed resource)."""
    csp = [e for e in entries if "Content Security Policy" in e.get("message", "")]
    expect(not csp, f"CSP violations: {csp}")
    bad = [e for e in entries
           if e.get("level") in ("SEVERE", "WARNING") and not any(a in e.get("message", "") for a in allowed)]
    expect(not bad, f"console errors: {bad}")


def wait(d):
    """A wait that looks again while the page is (re)loading."""
    return WebDriverWait(d, WAIT_SECONDS, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))


def wait_for_status(d, kind: str, containing: str = "") -> str:
    """Waits until the status region says something of `kind` (ok, error) holding
    `containing`; returns its text. A page still showing an earlier message is waited out."""
    def status(drv):
        region = drv.find_element(By.ID, "status")
        return region.get_attribute("data-kind"), region.text

    try:
        wait(d).until(
            lambda drv: status(drv)[0] == kind and containing in status(drv)[1])
    except TimeoutException:
        raise AssertionError(f"waited for {kind} {containing!r}: the status is {status(d)}") from None
    return status(d)[1]


def open_fresh(d, url: str):
    """Opens `url` as a link from a mail opens in a new tab: a whole page load (from a page
    already at the same address, only the fragment would change)."""
    d.get("about:blank")
    d.get(url)


def wait_for_form(d):
    """Waits until the reset page shows its form (a token was found): returns the two fields."""
    wait(d).until(lambda drv: drv.find_element(By.ID, "reset-form").is_displayed())
    return d.find_element(By.ID, "new-password"), d.find_element(By.ID, "confirm-password")


def expect_token_gone(d):
    expect("token" not in d.current_url, f"the token left the address bar: {d.current_url}")


def expect_fits_a_phone(d, page: str):
    width = d.execute_script("return document.documentElement.scrollWidth")
    inner = d.execute_script("return window.innerWidth")
    expect(width <= inner, f"{page}: no sideways scrolling on a phone ({width} > {inner})")


def type_keys(d, *keys):
    """Types into whatever has the focus: the keyboard alone, no clicks."""
    for key in keys:
        d.switch_to.active_element.send_keys(key)


# --- tests ------------------------------------------------------------------------------------


def test_the_verify_link_from_the_mail_confirms_the_address():
    username, address = new_user_with_email()
    link = link_in_mail(address, "Confirm your email address", "verify-email")
    d = driver()
    console(d)

    open_fresh(d, link)
    text = wait_for_status(d, "ok", "is confirmed")

    expect(address in text, f"status {text!r}")
    expect_token_gone(d)
    expect_clean_console(console(d))
    status, answer = login(username, PASSWORD)
    expect(status == 200, f"login: {status} {answer}")
    status, _, body = call("GET", "/account", headers={"Authorization": f"Bearer {answer['access_token']}"})
    account = json.loads(body)
    expect(status == 200 and account.get("email_verified") is True, f"account: {status} {account}")
    expect(account.get("email") == address and account.get("pending_email") is None, f"{account}")


def test_the_reset_link_from_the_mail_sets_a_new_password_typed_with_the_keyboard():
    username, address = verified_user()
    status, _, body = call("POST", "/password/forgot", {"email": address.upper()})
    expect(status == 202, f"forgot: {status} {body!r}")
    link = link_in_mail(address, "Reset your password", "reset-password")
    d = driver()
    console(d)

    open_fresh(d, link)
    first, _ = wait_for_form(d)
    expect(d.switch_to.active_element == first, "the focus starts in the first field")
    # Type, Tab, type again, Enter: the keyboard alone.
    SECRETS.add(NEW_PASSWORD)
    type_keys(d, NEW_PASSWORD, Keys.TAB, NEW_PASSWORD, Keys.ENTER)
    text = wait_for_status(d, "ok", "has been reset")

    expect("Log in" in text, f"status {text!r}")
    expect_token_gone(d)
    expect_clean_console(console(d))
    status, answer = login(username, NEW_PASSWORD)
    expect(status == 200, f"login with the new password: {status} {answer}")
    status, answer = login(username, PASSWORD)
    expect(status == 401, f"login with the old password: {status} {answer}")
    notices = [m for m in mails_to(address) if m.get("subject") == "Your password was changed"]
    expect(len(notices) == 1, f"a notice: {len(notices)}")


def test_the_reset_page_shows_the_apis_messages_and_the_link_keeps_working():
    username, address = verified_user()
    status, _, _ = call("POST", "/password/forgot", {"email": address})
    expect(status == 202, f"forgot: {status}")
    d = driver()
    console(d)
    open_fresh(d, link_in_mail(address, "Reset your password", "reset-password"))
    password, again = wait_for_form(d)

    # Two different passwords: refused on the page, nothing sent.
    type_keys(d, NEW_PASSWORD, Keys.TAB, NEW_PASSWORD + "!", Keys.ENTER)
    wait_for_status(d, "error", "do not match")
    # Too short: the API's own message is shown, and the link is not spent.
    for field in (password, again):
        field.clear()
        field.send_keys("short")
    again.send_keys(Keys.ENTER)
    # The API's message, as the page words it.
    wait_for_status(d, "error", "It must be at least 8 characters.")
    expect(password.get_attribute("aria-invalid") == "true", "the field is marked")
    # The same link, a good password.
    for field in (password, again):
        field.clear()
        field.send_keys(NEW_PASSWORD)
    SECRETS.add(NEW_PASSWORD)
    again.send_keys(Keys.ENTER)
    wait_for_status(d, "ok", "has been reset")
    # The 400 the API answered is logged by the browser as a failed resource: nothing else.
    expect_clean_console(console(d), allowed=("password/reset - Failed to load resource: the server responded with a status of 400",))
    status, _ = login(username, NEW_PASSWORD)
    expect(status == 200, f"login with the new password: {status}")


def test_the_pages_load_with_their_policy_their_style_and_script_and_no_console_error():
    for page in ("verify-email", "reset-password"):
        status, headers, _ = call("GET", f"/{page}")
        expect(status == 200, f"{page}: {status}")
        expect(header(headers, "content-security-policy") == CSP, f"{page}: {headers}")
        expect(header(headers, "referrer-policy") == "no-referrer", f"{page}: {headers}")
        expect(header(headers, "cache-control") == "no-store", f"{page}: {headers}")
        d = driver()
        console(d)

        open_fresh(d, f"{BASE}/{page}")
        # The script ran (it wrote the status) and the style applied (the page's width).
        wait_for_status(d, "error", "This link is incomplete")
        width = d.find_element(By.TAG_NAME, "main").value_of_css_property("max-width")
        expect(width == "512px", f"{page}: the stylesheet applies: max-width {width}")
        expect_fits_a_phone(d, page)
        expect_clean_console(console(d))


def test_a_used_link_opened_in_a_tab_showing_the_page_says_it_is_used():
    username, address = verified_user()
    status, _, _ = call("POST", "/password/forgot", {"email": address})
    expect(status == 202, f"forgot: {status}")
    link = link_in_mail(address, "Reset your password", "reset-password")
    SECRETS.add(NEW_PASSWORD)
    status, _, body = call("POST", "/password/reset", {"token": token_of(link), "new_password": NEW_PASSWORD})
    expect(status == 200, f"reset through the API: {status} {body!r}")
    d = driver()
    # The tab shows the reset page already (without a token): only the fragment changes, and
    # the page loads itself again for the new link.
    open_fresh(d, f"{BASE}/reset-password")
    wait_for_status(d, "error")
    console(d)

    d.get(link)
    wait_for_form(d)
    other = PASSWORD + " again"
    SECRETS.add(other)
    type_keys(d, other, Keys.TAB, other, Keys.ENTER)
    wait_for_status(d, "error", "invalid, already used or expired")

    expect_token_gone(d)
    expect_clean_console(console(d), allowed=("password/reset - Failed to load resource: the server responded with a status of 400",))
    status, _ = login(username, NEW_PASSWORD)
    expect(status == 200, "the password set by the link's one use stays")


def main() -> int:
    tests = {k: v for k, v in globals().items() if k.startswith("test_") and callable(v)}
    wanted = sys.argv[2:]
    unknown = [name for name in wanted if name not in tests]
    if unknown:
        print(f"browser: no such test: {', '.join(unknown)} (tests: {', '.join(tests)})", file=sys.stderr)
        return 2
    print(f"browser: {len(wanted or tests)} tests against {BASE} in headless Chromium")
    passed = failed = 0
    try:
        for name in wanted or tests:
            try:
                tests[name]()
                passed += 1
                print(f"ok      {name}")
            except Exception as e:  # noqa: BLE001 - report every failure and go on
                failed += 1
                print(f"FAILED  {name}: {type(e).__name__}: {e}")
    finally:
        if DRIVER is not None:
            DRIVER.quit()
    print(f"browser: {passed} passed, {failed} failed")
    secrets_file = os.environ.get("E2E_SECRETS_FILE")
    if secrets_file:
        with open(secrets_file, "a", encoding="utf-8") as f:
            f.writelines(secret + "\n" for secret in sorted(SECRETS))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
