"""schemathesis hooks for the fuzzing run in `make test` (loaded via SCHEMATHESIS_HOOKS).

`cargo lambda watch`, the local API Gateway emulator, answers a JSON request whose body is not
valid UTF-8 with its own plain-text 500 before any function runs; API Gateway instead hands such
a body to the function base64-encoded. So the fuzzer skips those bodies here, and the handlers'
answer to them (400 `validation_error`) is covered by
functions/register/tests/api/hostile_input.rs::non_utf8_bytes_are_a_400.
"""

import schemathesis


@schemathesis.hook
def filter_case(context, case):
    body = case.body
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True
