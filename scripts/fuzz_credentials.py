"""Bearer tokens for the fuzzing run in `make test` (scripts/test.sh run_fuzz), so that
schemathesis reaches the handlers behind the token check instead of only their 401s.

Usage: python3 scripts/fuzz_credentials.py BASE_URL > FILE, then `source FILE`. It registers and
logs in, through the served stack, with tests/e2e.py's own helpers:
- FUZZ_ACCESS_TOKEN: a user's access token, for every route that takes one;
- FUZZ_END_ALL_TOKEN: another user's, for `DELETE /sessions`, which ends every session of the
  token's user (with the first user's token it would end the session every later case sends);
- FUZZ_ADMIN_TOKEN: an administrator's (granted with tools/authctl, as `make grant` does), for
  the admin API.
The passwords are e2e.py's fixed test password; the fuzzer never sees them, so its password
cases (`POST /password`, `DELETE /account`) are refused and change nothing.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

import e2e  # noqa: E402 - reads BASE from sys.argv[1], as this script does


def main() -> int:
    user = e2e.login(e2e.new_user())["access_token"]
    end_all = e2e.login(e2e.new_user())["access_token"]
    admin_user = e2e.new_user()
    e2e.authctl("grant", admin_user[0], "admin")
    admin = e2e.login(admin_user)["access_token"]
    print(f"export FUZZ_ACCESS_TOKEN={user}")
    print(f"export FUZZ_END_ALL_TOKEN={end_all}")
    print(f"export FUZZ_ADMIN_TOKEN={admin}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
