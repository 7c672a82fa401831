"""Each cause, produced by a flow shaped like the real refusal, through the addon."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator

import pytest
from mitmproxy import http
from mitmproxy.test import taddons
from tests.support.flows import REQUEST_TIME, basic, make_jwt, refused_flow

from authdiag.addon import AuthDiag

T = REQUEST_TIME
BEARER_CHALLENGE = ("WWW-Authenticate", 'Bearer realm="orders"')


def invalid_token(description: str) -> tuple[str, str]:
    return (
        "WWW-Authenticate",
        f'Bearer realm="orders", error="invalid_token", '
        f'error_description="{description}"',
    )


def bearer(token: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {token}")


GOOD_CLAIMS = {"sub": "alice", "aud": "orders-api", "exp": T + 600, "iat": T - 60}


def jwt_with(**changes: object) -> str:
    return make_jwt(**{**GOOD_CLAIMS, **changes})


Scenario = Callable[[], http.HTTPFlow]

SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "no credentials at all": (
        "credentials-missing",
        lambda: refused_flow(response_headers=[BEARER_CHALLENGE]),
    ),
    "Basic sent where Bearer is asked": (
        "scheme-mismatch",
        lambda: refused_flow(
            request_headers=[("Authorization", basic("alice", "pw"))],
            response_headers=[BEARER_CHALLENGE],
        ),
    ),
    "an API key sent where Bearer is asked": (
        "scheme-mismatch",
        lambda: refused_flow(
            request_headers=[("X-API-Key", "k-1234567890abcdef")],
            response_headers=[BEARER_CHALLENGE],
        ),
    ),
    "Bearer written twice": (
        "authorization-malformed",
        lambda: refused_flow(
            request_headers=[("Authorization", f"Bearer Bearer {jwt_with()}")],
            response_headers=[invalid_token("bad header")],
        ),
    ),
    "a bare token with no scheme": (
        "authorization-malformed",
        lambda: refused_flow(
            request_headers=[("Authorization", jwt_with())],
            response_headers=[BEARER_CHALLENGE],
        ),
    ),
    "Basic that is not base64": (
        "basic-malformed",
        lambda: refused_flow(
            request_headers=[("Authorization", "Basic %%%notbase64")],
            response_headers=[("WWW-Authenticate", 'Basic realm="orders"')],
        ),
    ),
    "an expired JWT": (
        "jwt-expired",
        lambda: refused_flow(
            request_headers=[bearer(jwt_with(exp=T - 3600))],
            response_headers=[invalid_token("The access token expired")],
        ),
    ),
    "a JWT expired only by the server's clock": (
        "jwt-expired",
        lambda: refused_flow(
            request_headers=[bearer(jwt_with(exp=T + 30))],
            response_headers=[invalid_token("expired")],
            server_clock_offset=120,
        ),
    ),
    "a JWT whose nbf is in the future": (
        "jwt-not-yet-valid",
        lambda: refused_flow(
            request_headers=[bearer(jwt_with(nbf=T + 3600))],
            response_headers=[invalid_token("The token is not valid yet")],
        ),
    ),
    "a JWT whose payload is not JSON": (
        "jwt-malformed",
        lambda: refused_flow(
            request_headers=[bearer("eyJhbGciOiJIUzI1NiJ9.bm90LWpzb24.c2ln")],
            response_headers=[invalid_token("Malformed token")],
        ),
    ),
    "an unsigned JWT": (
        "jwt-unsigned",
        lambda: refused_flow(
            request_headers=[bearer(make_jwt("none", **GOOD_CLAIMS))],
            response_headers=[invalid_token("Unsigned tokens are not accepted")],
        ),
    ),
    "a JWT for another audience": (
        "jwt-audience-mismatch",
        lambda: refused_flow(
            request_headers=[bearer(jwt_with(aud="billing-api"))],
            response_headers=[invalid_token("Invalid audience")],
        ),
    ),
    "a token without the scope asked for": (
        "token-insufficient-scope",
        lambda: refused_flow(
            403,
            request_headers=[bearer(jwt_with(scope="orders:read"))],
            response_headers=[
                (
                    "WWW-Authenticate",
                    'Bearer realm="orders", error="insufficient_scope", '
                    'scope="orders:write"',
                )
            ],
        ),
    ),
    "a good-looking JWT the server refuses": (
        "token-rejected",
        lambda: refused_flow(
            request_headers=[bearer(jwt_with())],
            response_headers=[invalid_token("Signature verification failed")],
        ),
    ),
    "an opaque token the server refuses": (
        "token-rejected",
        lambda: refused_flow(
            request_headers=[bearer("ghp_abcdefghijklmnopqrstuvwxyz0123456789")],
            body=b'{"message": "Bad credentials"}',
            response_headers=[("Content-Type", "application/json")],
        ),
    ),
    "a wrong API key": (
        "api-key-rejected",
        lambda: refused_flow(
            request_headers=[("X-API-Key", "k-1234567890abcdef")],
            body=b'{"message": "Invalid API key"}',
            response_headers=[("Content-Type", "application/json")],
        ),
    ),
    "a wrong Basic password": (
        "credentials-rejected",
        lambda: refused_flow(
            request_headers=[("Authorization", basic("alice", "wrong:pw"))],
            response_headers=[("WWW-Authenticate", 'Basic realm="orders"')],
        ),
    ),
    "a Digest answer with a stale nonce": (
        "digest-stale-nonce",
        lambda: refused_flow(
            request_headers=[
                (
                    "Authorization",
                    'Digest username="alice", realm="r", nonce="old", uri="/", '
                    'response="0123456789abcdef0123456789abcdef"',
                )
            ],
            response_headers=[
                ("WWW-Authenticate", 'Digest realm="r", nonce="new", stale=true')
            ],
        ),
    ),
    "the first 401 of a Digest handshake": (
        "challenge-handshake",
        lambda: refused_flow(
            response_headers=[
                ("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth"')
            ]
        ),
    ),
    "a session the server ended": (
        "session-expired",
        lambda: refused_flow(
            request_headers=[("Cookie", "sessionid=s3cr3t-session-value; theme=dark")],
            response_headers=[("Set-Cookie", "sessionid=; Max-Age=0; Path=/")],
        ),
    ),
    "a 407 from a proxy": (
        "proxy-auth-required",
        lambda: refused_flow(
            407, response_headers=[("Proxy-Authenticate", 'Basic realm="corp"')]
        ),
    ),
    "a known user without permission": (
        "forbidden",
        lambda: refused_flow(
            403,
            request_headers=[("Authorization", basic("alice", "pw"))],
            body=b'{"detail": "You do not have permission to perform this action."}',
            response_headers=[("Content-Type", "application/json")],
        ),
    ),
    "a refusal nothing explains": (
        "unknown",
        lambda: refused_flow(request_headers=[("Authorization", "Custom abc123def")]),
    ),
}


Diagnose = Callable[..., http.HTTPFlow]


@pytest.fixture
def diagnosed() -> Iterator[Diagnose]:
    """Run flows through one addon in one mitmproxy test context, options applied."""
    addon = AuthDiag()
    with taddons.context(addon) as tctx:

        def run(flow: http.HTTPFlow, **options: object) -> http.HTTPFlow:
            tctx.configure(addon, **{**DEFAULT_OPTIONS, **options})
            addon.response(flow)
            return flow

        yield run


DEFAULT_OPTIONS = {
    "authdiag_marker": ":lock:",
    "authdiag_leeway": "0",
    "authdiag_statuses": "401,403,407",
}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=list(SCENARIOS))
def test_each_refusal_gets_its_cause_as_the_verdict(
    diagnosed: Diagnose, scenario: str
) -> None:
    expected, build = SCENARIOS[scenario]
    flow = diagnosed(build())
    annotation = flow.metadata["authdiag"]
    assert annotation["findings"][0]["cause"] == expected, annotation["findings"]
    assert flow.comment.startswith(f"authdiag: {expected}: ")
    # The annotation must survive mitmproxy's own serialisation (-w files).
    json.dumps(annotation)


COVERED_ELSEWHERE = {
    # Platform signatures and cross-flow causes: tests/test_platforms.py and
    # tests/test_crossflow.py hold their scenarios and check their own coverage.
    "authdiag.rules.platforms",
    "authdiag.rules.crossflow",
    "authdiag.rules.retries",
    # Client certificates: tests/test_rules_client_certs.py.
    "authdiag.rules.client_certs",
}
"""Rule modules whose causes have scenarios in a test module of their own."""


def test_every_cause_in_the_catalogue_has_a_scenario() -> None:
    from authdiag.catalogue import CAUSES

    covered = {cause for cause, _ in SCENARIOS.values()}
    expected = {
        known.id for known in CAUSES if known.rule.__module__ not in COVERED_ELSEWHERE
    }
    assert expected <= covered


def test_a_successful_response_is_left_untouched(diagnosed: Diagnose) -> None:
    flow = refused_flow(200, request_headers=[bearer(jwt_with(exp=T - 10))])
    diagnosed(flow)
    assert "authdiag" not in flow.metadata
    assert flow.comment == ""
    assert not flow.marked


def test_a_handshake_step_is_annotated_but_not_marked(diagnosed: Diagnose) -> None:
    _, build = SCENARIOS["the first 401 of a Digest handshake"]
    flow = diagnosed(build())
    assert flow.metadata["authdiag"]["findings"][0]["cause"] == "challenge-handshake"
    assert not flow.marked


def test_a_refusal_is_marked_with_the_configured_marker(diagnosed: Diagnose) -> None:
    _, build = SCENARIOS["no credentials at all"]
    assert diagnosed(build()).marked == ":lock:"
    assert diagnosed(build(), authdiag_marker=":x:").marked == ":x:"
    assert not diagnosed(build(), authdiag_marker="").marked


def test_leeway_lets_a_token_expired_moments_ago_pass_as_unexpired(
    diagnosed: Diagnose,
) -> None:
    def build() -> http.HTTPFlow:
        return refused_flow(
            request_headers=[bearer(jwt_with(exp=T - 30))],
            response_headers=[invalid_token("nope")],
        )

    strict = diagnosed(build())
    lenient = diagnosed(build(), authdiag_leeway="60")
    assert strict.metadata["authdiag"]["findings"][0]["cause"] == "jwt-expired"
    assert lenient.metadata["authdiag"]["findings"][0]["cause"] == "token-rejected"


def test_token_times_are_judged_at_the_request_time_not_now(
    diagnosed: Diagnose,
) -> None:
    # The request was sent at T, long before today: the token was valid then.
    flow = diagnosed(
        refused_flow(
            request_headers=[bearer(jwt_with(exp=T + 60))],
            response_headers=[invalid_token("Signature verification failed")],
        )
    )
    causes = [f["cause"] for f in flow.metadata["authdiag"]["findings"]]
    assert "jwt-expired" not in causes
    assert causes[0] == "token-rejected"


def test_the_server_clock_and_its_skew_are_reported(diagnosed: Diagnose) -> None:
    _, build = SCENARIOS["a JWT expired only by the server's clock"]
    finding = diagnosed(build()).metadata["authdiag"]["findings"][0]
    assert any("ahead of the proxy's clock" in line for line in finding["evidence"])
    assert finding["fault"] == "network"


def test_insufficient_scope_names_the_missing_scope(diagnosed: Diagnose) -> None:
    _, build = SCENARIOS["a token without the scope asked for"]
    finding = diagnosed(build()).metadata["authdiag"]["findings"][0]
    assert "orders:write" in finding["summary"]
    assert any("orders:read" in line for line in finding["evidence"])


def test_a_key_the_server_says_never_arrived_points_at_the_header_name(
    diagnosed: Diagnose,
) -> None:
    flow = diagnosed(
        refused_flow(
            request_headers=[("X-API-Key", "k-1234567890abcdef")],
            body=b'{"message": "No API key found in request"}',
            response_headers=[("Content-Type", "application/json")],
        )
    )
    finding = flow.metadata["authdiag"]["findings"][0]
    assert finding["cause"] == "api-key-rejected"
    assert "another name" in finding["summary"]


def test_an_issuer_from_another_environment_is_pointed_out(diagnosed: Diagnose) -> None:
    flow = diagnosed(
        refused_flow(
            request_headers=[bearer(jwt_with(iss="https://auth.staging.example.com/"))],
            response_headers=[invalid_token("Invalid token")],
        )
    )
    finding = flow.metadata["authdiag"]["findings"][0]
    assert finding["cause"] == "token-rejected"
    assert "another environment" in finding["summary"]


def test_generic_causes_give_way_to_specific_ones(diagnosed: Diagnose) -> None:
    _, build = SCENARIOS["an expired JWT"]
    causes = [f["cause"] for f in diagnosed(build()).metadata["authdiag"]["findings"]]
    assert "token-rejected" not in causes
    assert "unknown" not in causes


SECRETS = {
    "password": "hunter2:with-colon",
    "token": jwt_with(),
    "api key": "k-live-0123456789abcdefghij",
    "cookie": "s3cr3t-session-value-0123456789",
}


@pytest.mark.parametrize(
    "headers",
    [
        [("Authorization", basic("alice", SECRETS["password"]))],
        [bearer(SECRETS["token"])],
        [("X-API-Key", SECRETS["api key"])],
        [("Cookie", f"sessionid={SECRETS['cookie']}")],
    ],
    ids=["basic", "bearer", "api-key", "cookie"],
)
def test_no_secret_reaches_the_annotation_even_when_the_server_echoes_it(
    diagnosed: Diagnose,
    headers: list[tuple[str, str]],
) -> None:
    echoed = json.dumps({"message": "rejected: " + " ".join(SECRETS.values())})
    flow = diagnosed(
        refused_flow(
            request_headers=headers,
            body=echoed.encode(),
            response_headers=[("Content-Type", "application/json")],
        )
    )
    written = json.dumps(flow.metadata["authdiag"]) + flow.comment
    sent = headers[0][1]
    for secret in SECRETS.values():
        if secret in sent:
            assert secret not in written


def test_a_failing_rule_is_contained_and_logged_with_the_url(
    diagnosed: Diagnose,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from authdiag import catalogue, engine

    def broken(_: object) -> None:
        raise RuntimeError("boom")

    first, *rest = catalogue.CAUSES
    failing = dataclasses.replace(first, rule=broken)
    monkeypatch.setattr(engine, "CAUSES", [failing, *rest])
    _, build = SCENARIOS["no credentials at all"]
    flow = diagnosed(build())
    assert flow.metadata["authdiag"]["findings"][0]["cause"] == "credentials-missing"
    failures = [r for r in caplog.records if "failed on" in r.getMessage()]
    assert len(failures) == 1
    assert "https://api.example.com/orders" in failures[0].getMessage()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("authdiag_statuses", "401,abc", "authdiag_statuses"),
        ("authdiag_statuses", "700", "outside 100-599"),
        ("authdiag_leeway", "-5", "authdiag_leeway: '-5' is not a finite"),
        ("authdiag_leeway", "abc", "authdiag_leeway: 'abc' is not a number"),
        ("authdiag_leeway", "nan", "authdiag_leeway"),
        ("authdiag_marker", "lock", "authdiag_marker: 'lock' is not an emoji"),
    ],
)
def test_bad_option_values_fail_naming_the_option(
    option: str, value: object, message: str
) -> None:
    from mitmproxy import exceptions

    addon = AuthDiag()
    with (
        taddons.context(addon) as tctx,
        pytest.raises(exceptions.OptionsError, match=message),
    ):
        tctx.configure(addon, **{option: value})


def test_statuses_option_chooses_what_is_diagnosed(diagnosed: Diagnose) -> None:
    _, build = SCENARIOS["a known user without permission"]
    flow = diagnosed(build(), authdiag_statuses="401")
    assert "authdiag" not in flow.metadata
    flow = diagnosed(build(), authdiag_statuses="400-403")
    assert flow.metadata["authdiag"]["findings"][0]["cause"] == "forbidden"


def test_an_audience_naming_another_host_is_a_low_confidence_lead(
    diagnosed: Diagnose,
) -> None:
    flow = diagnosed(
        refused_flow(
            request_headers=[bearer(jwt_with(aud="https://billing.example.com/"))],
            response_headers=[invalid_token("Invalid token")],
        )
    )
    findings = flow.metadata["authdiag"]["findings"]
    assert findings[0]["cause"] == "token-rejected"
    assert ("jwt-audience-mismatch", "low") in [
        (f["cause"], f["confidence"]) for f in findings
    ]


def test_an_audience_that_is_an_api_name_is_not_second_guessed(
    diagnosed: Diagnose,
) -> None:
    flow = diagnosed(
        refused_flow(
            request_headers=[bearer(jwt_with(aud="orders-api"))],
            response_headers=[invalid_token("Invalid token")],
        )
    )
    causes = [f["cause"] for f in flow.metadata["authdiag"]["findings"]]
    assert causes == ["token-rejected"]
