#!/usr/bin/env python3
"""End-to-end tests over real HTTP: register -> login -> protected through `cargo lambda watch`,
which runs the same binaries as Lambda with the same API Gateway HTTP API (v2) events.

Usage: python3 tests/e2e.py http://127.0.0.1:PORT [TEST_NAME ...]
(`make e2e` / `make test` start the server; names pick some tests, by default all run).

Every test is independent: it registers its own fresh user (`new_user`) and logs in itself
(`login`), so no test reads what another left behind. They run in a shuffled order; the seed is
printed first, and `E2E_SEED=N` repeats an order. Prints one line per test and a closing
`e2e: N passed, N failed`; exit status 1 if any test failed.

`cargo lambda watch` sends every request as source IP 127.0.0.1, so all tests share the per-IP
limits: about one registration and one login per test (REGISTER_IP_LIMIT is 100 per hour in
dev.env; scripts/test.sh raises LOGIN_IP_LIMIT and REFRESH_IP_LIMIT for its servers). A 429 is a failure, never waited
out: run the tests through `make e2e` / `make test`.
"""
from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

BASE = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:9000"
PASSWORD = "correct horse battery staple"


# Every password sent and every token received, for the log check after a run
# (E2E_SECRETS_FILE: scripts/check_logs.py then looks for each in the functions' output).
SECRETS: set[str] = set()
SECRET_FIELDS = ("password", "current_password", "new_password", "access_token", "refresh_token",
                 "mfa_token", "code", "recovery_code", "secret", "otpauth_uri", "recovery_codes")


def remember_secrets(document) -> None:
    if isinstance(document, dict):
        for k, v in document.items():
            if k not in SECRET_FIELDS:
                continue
            for value in v if isinstance(v, list) else [v]:
                if isinstance(value, str) and value:
                    SECRETS.add(value)


def call(method: str, path: str, body: dict | None = None, headers: dict | None = None):
    remember_secrets(body)
    for value in (headers or {}).values():
        if value.startswith("Bearer "):
            SECRETS.add(value.removeprefix("Bearer "))
    status, response_headers, payload = send(method, path, body, headers)
    try:
        remember_secrets(json.loads(payload))
    except ValueError:
        pass
    return status, response_headers, payload


def send(method: str, path: str, body: dict | None, headers: dict | None):
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


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --- helpers: each test makes what it needs with these ------------------------------------


def unique_username() -> str:
    return "e2e_" + uuid.uuid4().hex[:10]


def new_user() -> tuple[str, str]:
    """Registers a fresh user; returns (username, password)."""
    username = unique_username()
    status, _, body = call("POST", "/register", {"username": username, "password": PASSWORD})
    hint = " (per-IP registration limit: REGISTER_IP_LIMIT)" if status == 429 else ""
    expect(status == 201, f"setup: register {username}: status {status} {body!r}{hint}")
    return username, PASSWORD


def post_login(username: str, password: str):
    """POST /login as (status, headers, body)."""
    return call("POST", "/login", {"username": username, "password": password})


def login(user: tuple[str, str]) -> dict:
    """Logs the user in; returns the token response (access_token, refresh_token, ...)."""
    username, password = user
    status, _, body = post_login(username, password)
    expect(status == 200, f"setup: login {username}: status {status} {body!r}")
    return json.loads(body)


# --- tests ----------------------------------------------------------------------------------


def test_register_returns_201():
    username = unique_username()
    status, headers, body = call("POST", "/register", {"username": username, "password": PASSWORD})
    expect(status == 201, f"status {status} {body!r}")
    expect(json.loads(body) == {"msg": "User registered successfully"}, f"body {body!r}")
    expect(header(headers, "content-type") == "application/json", f"content-type {headers}")


def test_register_again_returns_409():
    username, password = new_user()
    status, _, body = call("POST", "/register", {"username": username.upper(), "password": password})
    expect(status == 409, f"status {status}")
    expect(json.loads(body) == {"msg": "User already exists", "error": "user_exists"}, f"body {body!r}")


def test_login_returns_a_bearer_token_and_a_refresh_token():
    username, password = new_user()
    status, headers, body = post_login(username, password)
    expect(status == 200, f"status {status} {body!r}")
    doc = json.loads(body)
    expect(doc["token_type"] == "Bearer" and doc["expires_in"] == 900, f"body {doc}")
    expect(doc["access_token"].count(".") == 2, "access_token is a JWT")
    expect(doc["refresh_token"].startswith("rt1_") and "." not in doc["refresh_token"], "opaque refresh token")
    expect(header(headers, "cache-control") == "no-store", f"cache-control {headers}")
    expect_security_headers(headers)


def expect_security_headers(headers: dict):
    """The headers every answer carries, an error or not (SECURITY.md, "Response headers")."""
    for name, value in [
        ("strict-transport-security", "max-age=31536000; includeSubDomains"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ]:
        expect(header(headers, name) == value, f"{name}: {headers}")


def test_every_answer_carries_the_security_headers():
    username, _ = new_user()
    for method, path, body, want in [
        ("POST", "/login", {"username": username, "password": "not the password"}, 401),
        ("GET", "/protected", None, 401),
        ("GET", "/.well-known/jwks.json", None, 200),
        ("GET", "/reset-password", None, 200),
        ("POST", "/password/forgot", {"email": "not an address"}, 400),
        ("GET", "/no-such-route", None, 404),
    ]:
        status, headers, _ = call(method, path, body)
        expect(status == want, f"{method} {path}: {status}")
        expect_security_headers(headers)


def test_wrong_password_returns_401():
    username, _ = new_user()
    status, _, body = post_login(username, "not the password")
    expect(status == 401, f"status {status}")
    expect(json.loads(body) == {"msg": "Bad username or password", "error": "invalid_credentials"}, f"{body!r}")


def test_protected_accepts_the_token():
    user = new_user()
    token = login(user)["access_token"]
    status, _, body = call("GET", "/protected", headers=bearer(token))
    expect(status == 200, f"status {status} {body!r}")
    expect(json.loads(body) == {"msg": "This is a protected route", "logged_in_as": user[0]}, f"{body!r}")


def test_protected_rejects_a_bad_token_with_a_challenge():
    token = login(new_user())["access_token"]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    status, headers, body = call("GET", "/protected", headers=bearer(tampered))
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

    user = new_user()
    token = login(user)["access_token"]
    status, headers, body = call("GET", "/.well-known/jwks.json")
    expect(status == 200, f"status {status}")
    expect((header(headers, "cache-control") or "").startswith("public, max-age="), f"{headers}")
    jwks = jwt.PyJWKSet.from_json(body.decode())
    expect(all(k.key_type == "OKP" for k in jwks.keys), "Ed25519 keys")
    expect(b'"d"' not in body, "no private key material")
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwks[kid]
    claims = jwt.decode(token, key, algorithms=["EdDSA"], audience="auth-api-local", issuer=BASE)
    expect(claims["preferred_username"] == user[0] and claims["sid"], f"{claims}")
    expect(claims["sub"] != user[0] and len(claims["sub"]) == 36, f"sub is an opaque id: {claims}")
    expect(claims["scope"] == "profile" and claims["roles"] == ["user"], f"{claims}")


def test_the_token_verifies_from_its_issuers_discovery_document_alone():
    """As a verifier that knows only the token: `{iss}/.well-known/openid-configuration`, then
    `jwks_uri`, the key by `kid`, and iss, aud, exp, nbf, iat checked (PyJWT, not our code)."""
    import jwt

    token = login(new_user())["access_token"]
    iss = jwt.decode(token, options={"verify_signature": False})["iss"]
    expect(iss == BASE, f"the issuer is this stack's base URL: {iss}")
    with urllib.request.urlopen(f"{iss}/.well-known/openid-configuration", timeout=30) as r:
        discovery = json.load(r)
    expect(discovery["issuer"] == iss, f"{discovery}")
    # The token's algorithm is the one advertised (EdDSA, or RS256 on the JWT_ALG=RS256 stack).
    alg = jwt.get_unverified_header(token)["alg"]
    expect(discovery["id_token_signing_alg_values_supported"] == [alg], f"{alg} {discovery}")
    expect(alg in ("EdDSA", "RS256"), alg)
    client = jwt.PyJWKClient(discovery["jwks_uri"])
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, key, algorithms=discovery["id_token_signing_alg_values_supported"],
        audience="auth-api-local", issuer=discovery["issuer"],
        options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub"]},
    )
    expect("profile" in claims["scope"].split(), f"{claims}")


def test_refresh_rotates_and_reuse_revokes_the_family():
    refresh = login(new_user())["refresh_token"]
    status, _, body = call("POST", "/refresh", {"refresh_token": refresh})
    expect(status == 200, f"status {status} {body!r}")
    rotated = json.loads(body)
    expect(rotated["refresh_token"] != refresh, "a new refresh token")
    status, _, _ = call("GET", "/protected", headers=bearer(rotated["access_token"]))
    expect(status == 200, "the new access token works")
    status, _, body = call("POST", "/refresh", {"refresh_token": refresh})
    expect(status == 401 and json.loads(body)["error"] == "invalid_grant", f"reuse: {status} {body!r}")
    status, _, _ = call("POST", "/refresh", {"refresh_token": rotated["refresh_token"]})
    expect(status == 401, "the family is revoked after reuse")


def test_logout_ends_the_session():
    refresh = login(new_user())["refresh_token"]
    status, _, body = call("POST", "/logout", {"refresh_token": refresh})
    expect(status == 204 and body == b"", f"logout {status} {body!r}")
    status, _, _ = call("POST", "/refresh", {"refresh_token": refresh})
    expect(status == 401, "refresh after logout is refused")


def test_me_without_the_gateway_authorizer_is_401():
    # `cargo lambda watch` cannot run API Gateway authorizers, so /me sees no authorizer context.
    token = login(new_user())["access_token"]
    status, _, body = call("GET", "/me", headers=bearer(token))
    expect(status == 401 and json.loads(body)["error"] == "missing_token", f"{status} {body!r}")


def authctl(*args: str) -> str:
    """Runs tools/authctl (what `make grant` runs) against this stack's tables: scripts/test.sh
    exports USERS_TABLE and AWS_ENDPOINT_URL_DYNAMODB of the local server."""
    out = subprocess.run(
        ["cargo", "run", "--quiet", "-p", "authctl", "--", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )
    expect(out.returncode == 0, f"authctl {' '.join(args)}: {out.stderr}")
    return out.stdout


def test_a_granted_admin_uses_the_admin_api_with_the_next_login_token():
    admin, target = new_user(), new_user()
    before = login(admin)["access_token"]
    shown = json.loads(authctl("grant", admin[0], "admin"))
    expect(shown["roles"] == ["admin"], f"authctl grant: {shown}")
    bearer = {"Authorization": f"Bearer {login(admin)['access_token']}"}

    status, _, body = call("GET", f"/admin/users/{target[0].upper()}", headers=bearer)
    expect(status == 200 and json.loads(body)["username"] == target[0], f"{status} {body!r}")
    status, _, body = call("PATCH", f"/admin/users/{target[0]}", {"roles": ["admin"]}, headers=bearer)
    expect(status == 200 and json.loads(body)["roles"] == ["admin"], f"{status} {body!r}")
    status, _, body = call("DELETE", f"/admin/users/{target[0]}/sessions", headers=bearer)
    expect(status == 204 and body == b"", f"{status} {body!r}")
    # The token from before the grant has no admin scope.
    status, headers, body = call("GET", f"/admin/users/{target[0]}", headers={"Authorization": f"Bearer {before}"})
    expect(status == 403 and json.loads(body)["error"] == "insufficient_scope", f"{status} {body!r}")
    expect('scope="admin"' in (header(headers, "www-authenticate") or ""), f"{headers}")


def claims_of(token: str) -> dict:
    """The payload of a JWT, unverified (the tests above verify; this only reads `sid`)."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_sessions_are_listed_ended_one_by_one_and_everywhere():
    user = new_user()
    first, second = login(user), login(user)
    auth = bearer(second["access_token"])
    status, _, body = call("GET", "/sessions", headers=auth)
    expect(status == 200, f"list: {status} {body!r}")
    sessions = json.loads(body)["sessions"]
    sids = [s["sid"] for s in sessions]
    first_sid, second_sid = claims_of(first["access_token"])["sid"], claims_of(second["access_token"])["sid"]
    expect(sorted(sids) == sorted([first_sid, second_sid]), f"two live sessions: {sessions}")
    current = [s["sid"] for s in sessions if s["current"]]
    expect(current == [second_sid], f"the asking session is current: {sessions}")
    expect(all(s["source_ip"] == "127.0.0.1" and s["user_agent"] for s in sessions), f"{sessions}")

    status, _, body = call("DELETE", f"/sessions/{first_sid}", headers=auth)
    expect(status == 204 and body == b"", f"end one: {status} {body!r}")
    status, _, _ = call("POST", "/refresh", {"refresh_token": first["refresh_token"]})
    expect(status == 401, "the ended session no longer refreshes")
    status, _, body = call("DELETE", f"/sessions/{first_sid}", headers=auth)
    expect(status == 404 and json.loads(body)["error"] == "session_not_found", f"{status} {body!r}")

    status, _, _ = call("DELETE", "/sessions", headers=auth)
    expect(status == 204, f"log out everywhere: {status}")
    status, _, _ = call("POST", "/refresh", {"refresh_token": second["refresh_token"]})
    expect(status == 401, "every session is revoked")
    status, _, body = call("GET", "/sessions", headers=auth)
    expect(status == 401 and json.loads(body)["error"] == "invalid_token", f"{status} {body!r}")


def test_a_password_change_then_an_account_deletion_frees_the_name():
    username, password = new_user()
    tokens = login((username, password))
    new_password = "a different long passphrase"
    status, _, body = call("POST", "/password", {"current_password": password, "new_password": new_password},
                           headers=bearer(tokens["access_token"]))
    expect(status == 204, f"change: {status} {body!r}")
    status, _, _ = post_login(username, password)
    expect(status == 401, "the old password is refused")
    fresh = login((username, new_password))
    old_sub = claims_of(fresh["access_token"])["sub"]

    status, _, body = call("DELETE", "/account", {"password": new_password}, headers=bearer(fresh["access_token"]))
    expect(status == 204, f"delete: {status} {body!r}")
    status, _, _ = post_login(username, new_password)
    expect(status == 401, "no login after deletion")
    status, _, _ = call("POST", "/register", {"username": username, "password": PASSWORD})
    expect(status == 201, "the name registers again")
    expect(claims_of(login((username, PASSWORD))["access_token"])["sub"] != old_sub, "with a new sub")


def test_mfa_with_real_totp_codes_and_a_recovery_code():
    import time

    import pyotp

    user = new_user()
    username, password = user
    auth = bearer(login(user)["access_token"])
    status, _, body = call("POST", "/mfa/totp", {"password": password}, headers=auth)
    expect(status == 200, f"enroll: {status} {body!r}")
    enrollment = json.loads(body)
    parsed = pyotp.parse_uri(enrollment["otpauth_uri"])
    expect(parsed.secret == enrollment["secret"] and parsed.name == username, f"{enrollment['otpauth_uri']}")
    expect(len(base64.b32decode(enrollment["secret"] + "=" * (-len(enrollment["secret"]) % 8))) * 8 >= 160,
           "a secret of 160 bits or more")
    totp = pyotp.TOTP(enrollment["secret"])
    now = time.time()
    status, _, body = call("POST", "/mfa/totp/confirm", {"code": totp.at(now)}, headers=auth)
    expect(status == 200, f"confirm: {status} {body!r}")
    codes = json.loads(body)["recovery_codes"]
    expect(len(codes) == 10 and len(set(codes)) == 10, f"ten recovery codes: {codes}")

    # The password alone no longer logs in.
    status, _, body = post_login(username, password)
    expect(status == 403, f"login: {status} {body!r}")
    challenge = json.loads(body)
    expect(challenge["error"] == "mfa_required" and challenge["expires_in"] == 300, f"{challenge}")
    expect("access_token" not in challenge, "no token before the second factor")
    # The confirmation's code is spent; the next step's (one step ahead is accepted) is not.
    status, _, body = call("POST", "/login/mfa", {"mfa_token": challenge["mfa_token"], "code": totp.at(now)})
    expect(status == 401 and json.loads(body)["error"] == "invalid_code", f"replay: {status} {body!r}")
    status, _, body = call("POST", "/login/mfa", {"mfa_token": challenge["mfa_token"], "code": totp.at(now + 30)})
    expect(status == 200, f"login/mfa: {status} {body!r}")
    tokens = json.loads(body)
    expect(sorted(claims_of(tokens["access_token"])["amr"]) == ["mfa", "otp", "pwd"], f"{tokens}")
    status, _, body = call("GET", "/account", headers=bearer(tokens["access_token"]))
    expect(status == 200, f"account: {status} {body!r}")
    account = json.loads(body)
    expect(account["mfa"] == {"totp": True, "recovery_codes_left": 10}, f"{account}")

    # A recovery code, in another case and without its dashes, works once.
    status, _, body = post_login(username, password)
    mfa_token = json.loads(body)["mfa_token"]
    recovery = codes[0].replace("-", "").lower()
    status, _, body = call("POST", "/login/mfa", {"mfa_token": mfa_token, "recovery_code": recovery})
    expect(status == 200, f"recovery code: {status} {body!r}")
    expect(sorted(claims_of(json.loads(body)["access_token"])["amr"]) == ["mfa", "pwd"], f"{body!r}")
    status, _, body = post_login(username, password)
    mfa_token = json.loads(body)["mfa_token"]
    status, _, body = call("POST", "/login/mfa", {"mfa_token": mfa_token, "recovery_code": codes[0]})
    expect(status == 401 and json.loads(body)["error"] == "invalid_code", f"used up: {status} {body!r}")


def test_keygen_writes_rsa_keys_a_jose_library_reads():
    """`keygen new --alg RS256` writes a standard private JWK (RFC 7518 section 6.3.2): PyJWT
    loads it, signs with it, and verifies that signature with the key's public part alone."""
    import jwt
    from jwt.algorithms import RSAAlgorithm

    out = subprocess.run(
        ["cargo", "run", "--quiet", "-p", "keygen", "--", "new", "--alg", "RS256", "e2e-rsa"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    expect(out.returncode == 0, f"keygen: {out.stderr}")
    key = json.loads(out.stdout)["keys"][0]
    expect(all(key.get(part) for part in ("d", "p", "q", "dp", "dq", "qi")), f"parts {sorted(key)}")
    private = RSAAlgorithm.from_jwk(json.dumps(key))
    public = RSAAlgorithm.from_jwk(json.dumps({k: key[k] for k in ("kty", "n", "e")}))
    token = jwt.encode({"sub": "e2e"}, private, algorithm="RS256")
    expect(jwt.decode(token, public, algorithms=["RS256"])["sub"] == "e2e", "round trip")


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
    tests = {k: v for k, v in globals().items() if k.startswith("test_") and callable(v)}
    wanted = sys.argv[2:]
    unknown = [name for name in wanted if name not in tests]
    if unknown:
        print(f"e2e: no such test: {', '.join(unknown)} (tests: {', '.join(tests)})", file=sys.stderr)
        return 2
    order = [tests[name] for name in (wanted or tests)]
    seed_text = os.environ.get("E2E_SEED", "").strip()
    try:
        seed = int(seed_text) if seed_text else random.SystemRandom().randrange(1, 1_000_000)
    except ValueError:
        print(f"e2e: E2E_SEED must be an integer, not {seed_text!r}", file=sys.stderr)
        return 2
    random.Random(seed).shuffle(order)
    print(f"e2e: {len(order)} tests against {BASE}, shuffled with seed {seed} (E2E_SEED={seed} repeats the order)")
    passed = failed = 0
    for t in order:
        try:
            t()
            passed += 1
            print(f"ok      {t.__name__}")
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAILED  {t.__name__}: {e}")
    print(f"e2e: {passed} passed, {failed} failed")
    secrets_file = os.environ.get("E2E_SECRETS_FILE")
    if secrets_file:
        with open(secrets_file, "w", encoding="utf-8") as f:
            f.writelines(secret + "\n" for secret in sorted(SECRETS))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
