"""The Graph error taxonomy: classified by error.code, scrubbed of tokens, picklable."""

from __future__ import annotations

import json
import pickle
import time

import pytest
import requests
from freezegun import freeze_time
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from graph.errors import (
    Ambiguous,
    AuthError,
    BudgetExhausted,
    GraphError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    PolicyBlocked,
    RateLimited,
    RequestTooLarge,
    Transient,
    error_from_exception,
    error_from_response,
)
from graph.usage import Usage

TOKEN = "EAAGm0PX4ZCpsBAzzSecretPageToken123456"
NOW = 1_800_000_000.0


def body(code, subcode=None, *, transient=None, message="boom", **extra):
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC123"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    error.update(extra)
    return {"error": error}


def classify(code, subcode=None, *, status=400, transient=None, is_write=False, is_create=False, usage=None):
    return error_from_response(status, body(code, subcode, transient=transient), usage or Usage(),
                               is_write=is_write, is_create=is_create)


@pytest.mark.parametrize(
    ("code", "subcode", "status", "expected", "scope"),
    [
        (1, None, 500, Transient, None),
        (2, None, 503, Transient, None),
        (4, None, 403, RateLimited, "app"),
        (17, None, 400, RateLimited, "user"),
        (32, None, 400, RateLimited, "page"),
        (341, None, 400, RateLimited, "app"),
        (613, 1996, 400, RateLimited, "account"),
        (368, 1390008, 400, RateLimited, "page"),
        (368, None, 400, PolicyBlocked, None),
        (368, 1346003, 400, PolicyBlocked, None),
        (80001, None, 400, RateLimited, "page"),
        (80014, None, 400, RateLimited, "page"),
        (190, 463, 400, AuthError, None),
        (190, 2069032, 400, AuthError, None),
        (102, None, 400, AuthError, None),
        (10, None, 403, PermissionDenied, None),
        (200, None, 403, PermissionDenied, None),
        (299, None, 403, PermissionDenied, None),
        (100, None, 400, InvalidRequest, None),
        (100, 33, 400, NotFound, None),
        (803, None, 404, NotFound, None),
        (506, None, 400, InvalidRequest, None),
        (1609005, None, 400, InvalidRequest, None),
        (12345, None, 400, InvalidRequest, None),
    ],
)
def test_codes_map_to_classes(code, subcode, status, expected, scope):
    error = classify(code, subcode, status=status)
    assert type(error) is expected
    assert (error.code, error.subcode, error.http_status) == (code, subcode, status)
    assert error.fbtrace_id == "AbC123"
    assert error.type == "OAuthException"
    if scope:
        assert error.scope == scope


def test_http_status_does_not_decide_when_a_code_is_present():
    # A rate limit with HTTP 500, a permission error with 200: the code wins.
    assert type(classify(4, status=500)) is RateLimited
    assert type(classify(10, status=200)) is PermissionDenied
    assert type(classify(100, status=500, is_write=True)) is InvalidRequest


def test_rate_limit_wins_over_is_transient():
    error = classify(4, transient=True, is_write=True, is_create=True)
    assert type(error) is RateLimited
    assert error.is_transient is True


def test_is_transient_on_unclassified_code_is_transient():
    assert type(classify(9999, transient=True)) is Transient
    assert type(classify(9999, transient=False)) is InvalidRequest


@pytest.mark.parametrize("code", [1, 2])
def test_service_errors_on_a_create_are_ambiguous(code):
    assert type(classify(code, is_write=True, is_create=True)) is Ambiguous
    # An update or delete can simply be sent again.
    assert type(classify(code, is_write=True, is_create=False)) is Transient


def test_transient_flag_on_a_create_is_ambiguous():
    assert type(classify(9999, transient=True, is_write=True, is_create=True)) is Ambiguous


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("raw_body", [None, {}, {"unexpected": True}, {"error": "Bad Gateway"}])
def test_5xx_without_graph_body_read_vs_write(status, raw_body):
    assert type(error_from_response(status, raw_body, Usage(), is_write=False)) is Transient
    assert type(error_from_response(status, raw_body, Usage(), is_write=True, is_create=True)) is Ambiguous


def test_4xx_without_graph_body_is_invalid_request():
    error = error_from_response(404, None, Usage(), is_write=False)
    assert type(error) is InvalidRequest
    assert error.http_status == 404
    assert "HTTP 404" in str(error)


@freeze_time("2027-01-15 08:00:00", tz_offset=0)
def test_retry_at_from_business_use_case_header():
    usage = Usage.from_headers({"X-Business-Use-Case-Usage": json.dumps(
        {"111": [{"type": "pages", "call_count": 100, "total_time": 20, "total_cputime": 20,
                  "estimated_time_to_regain_access": 12}]})})
    error = classify(80001, usage=usage)
    assert error.retry_at == pytest.approx(time.time() + 12 * 60)
    assert error.usage is usage


@freeze_time("2027-01-15 08:00:00", tz_offset=0)
def test_retry_at_from_error_data_json_string():
    raw = body(32, error_data=json.dumps({"estimated_time_to_regain_access": 5}))
    error = error_from_response(400, raw, Usage(), is_write=False, is_create=False)
    assert isinstance(error, RateLimited)
    assert error.retry_at == pytest.approx(time.time() + 300)


def test_retry_at_unknown_is_none():
    assert classify(4).retry_at is None
    zero = Usage.from_headers({"X-Business-Use-Case-Usage": '{"1": [{"estimated_time_to_regain_access": 0}]}'})
    assert classify(80001, usage=zero).retry_at is None


REDUCE = "Please reduce the amount of data you're asking for, then retry your request"


def test_code_1_reduce_the_amount_of_data_is_its_own_transient():
    """Field evidence (singer-io/tap-facebook #65): HTTP 500, code 1, this message, on a listing."""
    error = error_from_response(500, body(1, message=REDUCE), Usage(), is_write=False)
    assert type(error) is RequestTooLarge and isinstance(error, Transient)
    assert "fewer items" in error.hint and "retrying unchanged will not help" in str(error)
    other = error_from_response(500, body(1, message="An unknown error has occurred."), Usage(), is_write=False)
    assert type(other) is Transient


def test_reduce_data_on_a_create_stays_ambiguous():
    error = error_from_response(500, body(1, message=REDUCE), Usage(), is_write=True, is_create=True)
    assert type(error) is Ambiguous


def test_policy_block_keeps_meta_message_and_says_what_to_do():
    raw = body(368, 1346003, message="(#368) The action attempted has been deemed abusive or is otherwise disallowed",
               error_user_msg="This content goes against our Community Standards.")
    error = error_from_response(400, raw, Usage(), is_write=True, is_create=True)
    assert type(error) is PolicyBlocked and not isinstance(error, RateLimited)
    text = str(error)
    assert "deemed abusive" in text and error.user_message == "This content goes against our Community Standards."
    assert "Meta blocked this post under its policies" in text and "approval UI" in text
    assert pickle.loads(pickle.dumps(error)).hint == error.hint


def test_str_has_code_type_message_and_hint():
    error = error_from_response(400, body(190, 463, message="Error validating access token"), Usage(), is_write=False)
    assert str(error) == (
        "Graph error 190/463 (OAuthException): Error validating access token — "
        "The Page token has expired; reconnect the Page with `socialcal facebook connect`."
    )


@pytest.mark.parametrize("code", [1, 4, 17, 32, 368, 80001, 102, 190, 10, 200, 100, 506, 1609005, 803, 777])
def test_every_error_has_a_plain_english_hint(code):
    error = classify(code)
    assert error.hint and error.hint.endswith(".")
    assert error.hint in str(error)


def test_ambiguous_hint_says_reconcile():
    error = classify(2, is_write=True, is_create=True)
    assert "reconcile" in error.hint


def test_token_is_scrubbed_from_message_str_repr_and_pickle():
    message = f"Invalid OAuth token {TOKEN} in https://graph.facebook.com/me?access_token={TOKEN}&x=1"
    raw = body(190, 467, message=message, error_user_msg=f"token {TOKEN}")
    error = error_from_response(400, raw, Usage(), is_write=False, scrub=[TOKEN])
    for text in (str(error), repr(error), error.graph_message, error.user_message, pickle.dumps(error).decode("latin-1")):
        assert TOKEN not in text
        assert "access_token=EAA" not in text


def test_literal_secret_scrubbed_even_when_it_does_not_look_like_a_token():
    secret = "plain-sandbox-secret-7f3a9c"  # never registered anywhere else in this process
    error = error_from_response(400, body(190, message=f"bad token {secret}"), Usage(), is_write=False, scrub=[secret])
    assert secret not in str(error)
    assert secret not in pickle.dumps(error).decode("latin-1")


def test_access_token_param_scrubbed_even_without_the_literal():
    error = InvalidRequest("bad url https://x/?access_token=abcdef123456&y=2")
    assert "abcdef123456" not in str(error)


USAGE = Usage(app={"call_count": 99}, page=None, business={})
EXAMPLES = [
    GraphError("m", code=1, http_status=500, usage=USAGE),
    RateLimited("m", code=80001, scope="page", retry_at=NOW, usage=USAGE, fbtrace_id="t"),
    BudgetExhausted("budget spent", retry_at=NOW),
    Transient("m", code=2, is_transient=True),
    Ambiguous("m", http_status=502),
    AuthError("m", code=190, subcode=463, type="OAuthException"),
    PermissionDenied("m", code=200),
    InvalidRequest("m", code=100, user_message="fix it"),
    NotFound("m", code=100, subcode=33),
]


@pytest.mark.parametrize("error", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_class_pickles_round_trip(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.__dict__ == error.__dict__
    assert str(copy) == str(error)
    assert copy.hint == error.hint


def test_budget_exhausted_is_a_local_rate_limit():
    error = BudgetExhausted(retry_at=NOW)
    assert isinstance(error, RateLimited)
    assert error.scope == "budget"
    assert error.retry_at == NOW
    assert error.code is None
    assert "not sent" in error.hint


# ------------------------------------------------------------------------- network failures

def _refused() -> requests.exceptions.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/v24.0/1/feed", reason=reason))


def _reset() -> requests.exceptions.ConnectionError:
    return requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")))


@pytest.mark.parametrize(
    ("exc", "is_write", "expected"),
    [
        (requests.exceptions.ConnectTimeout("connect timed out"), True, Transient),
        (requests.exceptions.ConnectTimeout("connect timed out"), False, Transient),
        (_refused(), True, Transient),
        (_refused(), False, Transient),
        (requests.exceptions.ReadTimeout("read timed out"), True, Ambiguous),
        (requests.exceptions.ReadTimeout("read timed out"), False, Transient),
        (requests.exceptions.ChunkedEncodingError("broken"), True, Ambiguous),
        (requests.exceptions.ChunkedEncodingError("broken"), False, Transient),
        (_reset(), True, Ambiguous),
        (_reset(), False, Transient),
        (requests.exceptions.SSLError("handshake failed"), True, Transient),
        (requests.exceptions.InvalidURL("bad"), True, InvalidRequest),
    ],
)
def test_network_failures(exc, is_write, expected):
    assert type(error_from_exception(exc, is_write=is_write)) is expected


def test_network_failure_message_is_scrubbed():
    error = error_from_exception(requests.exceptions.ReadTimeout(f"timed out {TOKEN}"), is_write=True, scrub=[TOKEN])
    assert TOKEN not in str(error)
    assert "ReadTimeout" in str(error)
