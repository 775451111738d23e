#!/usr/bin/env python3
"""End-to-end tests over real HTTP: register -> login -> protected through `cargo lambda watch`,
which runs the same binaries as Lambda with the same API Gateway HTTP API (v2) events.

Usage: python tests/e2e.py http://127.0.0.1:PORT   (scripts/test.sh starts the server)
Prints one line per test and a closing `e2e: N passed, N failed`.
"""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
import uuid

BASE = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:9000"


def call(method: str, path: str, body: dict | None = None, headers: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def header(headers: dict, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def expect(cond: bool, what: str):
    if not cond:
        raise AssertionError(what)


USER = "e2e_" + uuid.uuid4().hex[:10]
PASSWORD = "correct horse battery staple"
state: dict = {}


def test_register_returns_201():
    status, headers, body = call("POST", "/register", {"username": USER, "password": PASSWORD})
    expect(status == 201, f"status {status} {body!r}")
    expect(json.loads(body) == {"msg": "User registered successfully"}, f"body {body!r}")
    expect(header(headers, "content-type") == "application/json", f"content-type {headers}")


def test_register_again_returns_409():
    status, _, body = call("POST", "/register", {"username": USER.upper(), "password": PASSWORD})
    expect(status == 409, f"status {status}")
    expect(json.loads(body) == {"msg": "User already exists", "error": "user_exists"}, f"body {body!r}")


def test_login_returns_a_bearer_token_and_a_refresh_token():
    status, headers, body = call("POST", "/login", {"username": USER, "password": PASSWORD})
    expect(status == 200, f"status {status} {body!r}")
    doc = json.loads(body)
    expect(doc["token_type"] == "Bearer" and doc["expires_in"] == 900, f"body {doc}")
    expect(doc["access_token"].count(".") == 2, "access_token is a JWT")
    expect(doc["refresh_token"].startswith("rt1_") and "." not in doc["refresh_token"], "opaque refresh token")
    expect(header(headers, "cache-control") == "no-store", f"cache-control {headers}")
    state["token"] = doc["access_token"]
    state["refresh"] = doc["refresh_token"]


def test_wrong_password_returns_401():
    status, _, body = call("POST", "/login", {"username": USER, "password": "not the password"})
    expect(status == 401, f"status {status}")
    expect(json.loads(body) == {"msg": "Bad username or password", "error": "invalid_credentials"}, f"{body!r}")


def test_protected_accepts_the_token():
    status, _, body = call("GET", "/protected", headers={"Authorization": f"Bearer {state['token']}"})
    expect(status == 200, f"status {status} {body!r}")
    expect(json.loads(body) == {"msg": "This is a protected route", "logged_in_as": USER}, f"{body!r}")


def test_protected_rejects_a_bad_token_with_a_challenge():
    tampered = state["token"][:-4] + ("AAAA" if not state["token"].endswith("AAAA") else "BBBB")
    status, headers, body = call("GET", "/protected", headers={"Authorization": f"Bearer {tampered}"})
    expect(status == 401, f"status {status}")
    expect(json.loads(body)["error"] == "invalid_token", f"{body!r}")
    challenge = header(headers, "www-authenticate") or ""
    expect(challenge.startswith('Bearer realm="') and 'error="invalid_token"' in challenge, challenge)


def test_protected_without_token_returns_401_missing_token():
    status, headers, body = call("GET", "/protected")
    expect(status == 401 and json.loads(body)["error"] == "missing_token", f"{status} {body!r}")
    expect((header(headers, "www-authenticate") or "").startswith("Bearer realm="), f"{headers}")


def test_jwks_verifies_the_access_token_with_an_independent_library():
    import jwt  # PyJWT: not the Rust code under test

    status, headers, body = call("GET", "/.well-known/jwks.json")
    expect(status == 200, f"status {status}")
    expect((header(headers, "cache-control") or "").startswith("public, max-age="), f"{headers}")
    jwks = jwt.PyJWKSet.from_json(body.decode())
    expect(all(k.key_type == "OKP" for k in jwks.keys), "Ed25519 keys")
    expect(b'"d"' not in body, "no private key material")
    kid = jwt.get_unverified_header(state["token"])["kid"]
    key = jwks[kid]
    claims = jwt.decode(
        state["token"], key, algorithms=["EdDSA"], audience="auth-api-local", issuer="auth-api-local"
    )
    expect(claims["sub"] == USER and claims["sid"], f"{claims}")


def test_refresh_rotates_and_reuse_revokes_the_family():
    status, _, body = call("POST", "/refresh", {"refresh_token": state["refresh"]})
    expect(status == 200, f"status {status} {body!r}")
    rotated = json.loads(body)
    expect(rotated["refresh_token"] != state["refresh"], "a new refresh token")
    status, _, _ = call("GET", "/protected", headers={"Authorization": f"Bearer {rotated['access_token']}"})
    expect(status == 200, "the new access token works")
    status, _, body = call("POST", "/refresh", {"refresh_token": state["refresh"]})
    expect(status == 401 and json.loads(body)["error"] == "invalid_grant", f"reuse: {status} {body!r}")
    status, _, _ = call("POST", "/refresh", {"refresh_token": rotated["refresh_token"]})
    expect(status == 401, "the family is revoked after reuse")


def test_logout_ends_the_session():
    _, _, body = call("POST", "/login", {"username": USER, "password": PASSWORD})
    refresh = json.loads(body)["refresh_token"]
    status, _, body = call("POST", "/logout", {"refresh_token": refresh})
    expect(status == 204 and body == b"", f"logout {status} {body!r}")
    status, _, _ = call("POST", "/refresh", {"refresh_token": refresh})
    expect(status == 401, "refresh after logout is refused")


def test_me_without_the_gateway_authorizer_is_401():
    # `cargo lambda watch` cannot run API Gateway authorizers, so /me sees no authorizer context.
    status, _, body = call("GET", "/me", headers={"Authorization": f"Bearer {state['token']}"})
    expect(status == 401 and json.loads(body)["error"] == "missing_token", f"{status} {body!r}")


def test_unknown_path_returns_404_json():
    status, headers, body = call("GET", "/no-such-route")
    expect(status == 404, f"status {status}")
    expect(json.loads(body)["error"] == "not_found", f"{body!r}")


def test_wrong_method_returns_405_with_allow():
    status, headers, body = call("GET", "/login")
    expect(status == 405, f"status {status}")
    expect(header(headers, "allow") == "POST", f"{headers}")
    expect(json.loads(body)["error"] == "method_not_allowed", f"{body!r}")


def main() -> int:
    tests = [v for k, v in globals().items() if k.startswith("test_")]
    passed = failed = 0
    for t in tests:
        try:
            t()
            passed += 1
            print(f"ok      {t.__name__}")
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAILED  {t.__name__}: {e}")
    print(f"e2e: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
