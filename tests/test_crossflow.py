"""Causes that span flows or the path between client and server, through the addon.

Each test feeds a sequence of flows, as the proxy would see them, through one
addon; the history those flows leave is what the later verdicts rest on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from mitmproxy import http
from tests.support.flows import REQUEST_TIME
from tests.support.sequences import Proxy, causes, finding, flow_at, proxy
from tests.support.vendors import basic

from authdiag import observe
from authdiag.catalogue import CAUSES
from authdiag.history import REDIRECT_WINDOW
from authdiag.rules.retries import RETRY_THRESHOLD, RETRY_WINDOW

T = REQUEST_TIME
TOKEN = "opaque-token-0123456789abcdefghij"
BEARER = ("Authorization", f"Bearer {TOKEN}")
BARE_CHALLENGE = ("WWW-Authenticate", 'Bearer realm="orders"')
REQUESTS_AGENT = ("User-Agent", "python-requests/2.32.3")
NOT_PROVIDED = b'{"detail": "Authentication credentials were not provided."}'
JSON = ("Content-Type", "application/json")


@pytest.fixture
def addon() -> Iterator[Proxy]:
    with proxy(authdiag_statuses="400,401,403,407") as running:
        yield running


def test_every_cross_flow_cause_has_a_scenario_here() -> None:
    tested = {
        "auth-stripped-on-redirect",
        "preflight-unauthenticated",
        "authorization-not-forwarded",
        "authorization-conflict",
        "credential-stopped-working",
        "retry-storm",
    }
    mine = {
        known.id
        for known in CAUSES
        if known.rule.__module__
        in ("authdiag.rules.crossflow", "authdiag.rules.retries")
    }
    assert mine == tested


def test_a_success_without_credentials_leaves_nothing_behind(addon: Proxy) -> None:
    # The cheap path every ordinary flow takes: nothing is kept for it.
    plain = flow_at(200, request_headers=[("Accept", "application/json")])
    addon.send(plain, flow_at(404, request_headers=[BEARER]))

    assert observe.exchange_of(plain, refused=False) is None
    assert len(addon.addon.history) == 0


# --- auth-stripped-on-redirect --------------------------------------------------------


def redirect(location: str, *, at: float = T - 0.2) -> http.HTTPFlow:
    return flow_at(
        302,
        at=at,
        url="https://api.example.com/v1/orders",
        request_headers=[BEARER, REQUESTS_AGENT],
        response_headers=[("Location", location)],
    )


def refused_after_redirect(
    url: str = "https://eu.api.example.com/v1/orders",
) -> http.HTTPFlow:
    return flow_at(
        401,
        url=url,
        request_headers=[REQUESTS_AGENT],
        response_headers=[BARE_CHALLENGE],
    )


def test_credentials_dropped_on_a_cross_origin_redirect_are_named(addon: Proxy) -> None:
    flow = addon.send(
        redirect("https://eu.api.example.com/v1/orders"), refused_after_redirect()
    )

    assert causes(flow)[0] == "auth-stripped-on-redirect"
    assert "credentials-missing" not in causes(flow)
    verdict = finding(flow, "auth-stripped-on-redirect")
    assert "host changed" in verdict["summary"]
    assert verdict["fix"][0].startswith("Call the final URL directly, or send")
    assert any("python-requests" in line for line in verdict["evidence"])
    assert any(
        line.startswith("history: https://api.example.com:443/v1/orders")
        for line in verdict["evidence"]
    )
    assert TOKEN not in json.dumps(flow.metadata["authdiag"])


def test_a_relative_redirect_to_another_port_is_followed_too(addon: Proxy) -> None:
    first = flow_at(
        307,
        at=T - 0.1,
        url="http://localhost:8000/login",
        request_headers=[
            ("Authorization", basic("alice", "pw")),
            ("User-Agent", "curl/8.5.0"),
        ],
        response_headers=[("Location", "//localhost:8443/login?next=%2F")],
    )
    second = flow_at(
        401,
        url="http://localhost:8443/login?next=%2F",
        request_headers=[("User-Agent", "curl/8.5.0")],
        response_headers=[("WWW-Authenticate", 'Basic realm="app"')],
    )

    verdict = finding(addon.send(first, second), "auth-stripped-on-redirect")

    assert "port changed" in verdict["summary"]
    assert "--location-trusted" in verdict["fix"][0]


@pytest.mark.parametrize(
    ("location", "delay"),
    [
        pytest.param("https://api.example.com/v2/orders", 0.2, id="same-origin"),
        pytest.param(
            "https://eu.api.example.com/v1/orders", REDIRECT_WINDOW + 5, id="late"
        ),
    ],
)
def test_an_unrelated_redirect_is_not_blamed(
    addon: Proxy, location: str, delay: float
) -> None:
    flow = addon.send(
        redirect(location, at=T - delay),
        refused_after_redirect(location.replace("v2", "v2")),
    )

    assert "auth-stripped-on-redirect" not in causes(flow)
    assert causes(flow)[0] == "credentials-missing"


# --- preflight-unauthenticated --------------------------------------------------------


def preflight(**extra: str) -> http.HTTPFlow:
    return flow_at(
        401,
        method="OPTIONS",
        request_headers=[
            ("Origin", "https://app.example.com"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "authorization,content-type"),
        ],
        response_headers=[BARE_CHALLENGE, *extra.items()],
    )


def test_a_refused_preflight_is_a_server_fix_not_a_credential_problem(
    addon: Proxy,
) -> None:
    flow = addon.send(preflight())

    assert causes(flow)[0] == "preflight-unauthenticated"
    assert "credentials-missing" not in causes(flow)
    verdict = finding(flow, "preflight-unauthenticated")
    assert verdict["fault"] == "server"
    assert "https://app.example.com" in verdict["summary"]


def test_the_fix_for_the_server_stack_in_the_headers_comes_first(addon: Proxy) -> None:
    flow = addon.send(preflight(**{"X-Powered-By": "Express"}))

    assert finding(flow, "preflight-unauthenticated")["fix"][0].startswith("Express:")


def test_an_options_request_that_is_not_a_preflight_is_not_one(addon: Proxy) -> None:
    flow = addon.send(flow_at(401, method="OPTIONS", response_headers=[BARE_CHALLENGE]))

    assert "preflight-unauthenticated" not in causes(flow)


# --- authorization-not-forwarded ------------------------------------------------------


def test_a_server_that_says_no_credentials_arrived_lost_them_on_the_way(
    addon: Proxy,
) -> None:
    flow = addon.send(
        flow_at(
            401,
            request_headers=[BEARER],
            response_headers=[BARE_CHALLENGE, JSON, ("Server", "nginx/1.22.1")],
            body=NOT_PROVIDED,
        )
    )

    assert causes(flow)[0] == "authorization-not-forwarded"
    assert "token-rejected" not in causes(flow)
    verdict = finding(flow, "authorization-not-forwarded")
    assert verdict["confidence"] == "high"
    assert "nginx" in verdict["summary"]
    assert any("proxy_set_header Authorization" in fix for fix in verdict["fix"])


def test_wordpress_answering_as_anonymous_points_at_apache_and_php(
    addon: Proxy,
) -> None:
    body = json.dumps(
        {
            "code": "rest_forbidden",
            "message": "Sorry, you are not allowed to do that.",
            "data": {"status": 401},
        }
    ).encode()
    flow = addon.send(
        flow_at(
            401,
            url="https://blog.example.com/wp-json/wp/v2/settings",
            request_headers=[
                ("Authorization", basic("editor", "abcd EFGH 1234 ijkl MNOP 5678"))
            ],
            response_headers=[
                JSON,
                ("Server", "Apache/2.4.62 (Debian)"),
                ("X-Powered-By", "PHP/8.2.28"),
            ],
            body=body,
        )
    )

    verdict = finding(flow, "authorization-not-forwarded")
    assert causes(flow)[0] == "authorization-not-forwarded"
    assert "WordPress" in verdict["summary"]
    assert any("CGIPassAuth On" in fix for fix in verdict["fix"])


def test_an_underscore_in_the_key_header_name_is_the_reason_it_vanished(
    addon: Proxy,
) -> None:
    flow = addon.send(
        flow_at(
            401,
            request_headers=[("X_API_KEY", "k-0123456789abcdefghij")],
            response_headers=[JSON, ("Server", "nginx/1.22.1")],
            body=b'{"message": "No API key found in request"}',
        )
    )

    assert causes(flow)[0] == "authorization-not-forwarded"
    assert "api-key-rejected" not in causes(flow)
    verdict = finding(flow, "authorization-not-forwarded")
    assert "'X_API_KEY'" in verdict["summary"]
    assert "underscores_in_headers on" in verdict["fix"][0]


def test_a_bare_bearer_challenge_to_a_token_is_a_medium_hint(addon: Proxy) -> None:
    flow = addon.send(
        flow_at(401, request_headers=[BEARER], response_headers=[BARE_CHALLENGE])
    )

    verdict = finding(flow, "authorization-not-forwarded")
    assert verdict["confidence"] == "medium"
    assert any("RFC 6750 §3.1" in line for line in verdict["evidence"])


def test_a_token_the_server_says_is_invalid_did_arrive(addon: Proxy) -> None:
    flow = addon.send(
        flow_at(
            401,
            request_headers=[BEARER],
            response_headers=[
                ("WWW-Authenticate", 'Bearer realm="orders", error="invalid_token"')
            ],
        )
    )

    assert "authorization-not-forwarded" not in causes(flow)
    assert causes(flow)[0] == "token-rejected"


# --- authorization-conflict -----------------------------------------------------------


def test_a_token_in_header_and_query_is_an_rfc6750_conflict(addon: Proxy) -> None:
    flow = addon.send(
        flow_at(
            400,
            url=f"https://api.example.com/orders?access_token={TOKEN}",
            request_headers=[BEARER],
            response_headers=[("WWW-Authenticate", 'Bearer error="invalid_request"')],
        )
    )

    assert causes(flow)[0] == "authorization-conflict"
    verdict = finding(flow, "authorization-conflict")
    assert verdict["confidence"] == "high"
    assert "the same token" in verdict["summary"]


def test_a_different_token_in_the_form_body_is_named_and_not_shown(
    addon: Proxy,
) -> None:
    form_token = "form-token-abcdefghijklmnopqrstuvwxyz"
    flow = addon.send(
        flow_at(
            401,
            method="POST",
            request_headers=[
                BEARER,
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            request_body=f"access_token={form_token}&item=3".encode(),
            response_headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')],
            body=f"token {form_token} refused".encode(),
        )
    )

    verdict = finding(flow, "authorization-conflict")
    assert "different tokens" in verdict["summary"]
    assert any("form body" in line for line in verdict["evidence"])
    assert form_token not in json.dumps(flow.metadata["authdiag"])


# --- credential-stopped-working -------------------------------------------------------


def accepted(at: float, path: str = "/orders") -> http.HTTPFlow:
    return flow_at(
        200, at=at, url=f"https://api.example.com{path}", request_headers=[BEARER]
    )


def refused(path: str = "/orders", status: int = 401) -> http.HTTPFlow:
    return flow_at(
        status,
        url=f"https://api.example.com{path}",
        request_headers=[BEARER],
        response_headers=[
            (
                "WWW-Authenticate",
                'Bearer error="invalid_token", error_description="revoked"',
            )
        ],
    )


def test_a_token_accepted_moments_ago_and_refused_now_stopped_working(
    addon: Proxy,
) -> None:
    flow = addon.send(accepted(T - 30), accepted(T - 20), accepted(T - 5), refused())

    assert causes(flow)[0] == "credential-stopped-working"
    assert "token-rejected" not in causes(flow)
    verdict = finding(flow, "credential-stopped-working")
    assert verdict["confidence"] == "high"
    assert "accepted 3 times" in verdict["evidence"][0]
    assert "5 s before this refusal" in verdict["evidence"][0]
    assert "nothing changed on the client's side" in verdict["evidence"][1]


def test_acceptance_on_another_path_is_only_a_medium_hint(addon: Proxy) -> None:
    flow = addon.send(accepted(T - 5, "/public"), refused("/orders"))

    verdict = finding(flow, "credential-stopped-working")
    assert verdict["confidence"] == "medium"
    assert "/public" in verdict["evidence"][1]


def test_a_403_elsewhere_is_a_permission_not_a_dead_credential(addon: Proxy) -> None:
    flow = addon.send(accepted(T - 5, "/orders"), refused("/admin", status=403))

    assert "credential-stopped-working" not in causes(flow)


def test_a_success_of_another_client_says_nothing_about_this_one(addon: Proxy) -> None:
    other = flow_at(200, at=T - 5, request_headers=[BEARER], client="10.0.0.99")
    flow = addon.send(other, refused())

    assert "credential-stopped-working" not in causes(flow)


# --- retry-storm ----------------------------------------------------------------------


def test_the_third_quick_refusal_of_the_same_token_is_a_retry_storm(
    addon: Proxy,
) -> None:
    flows = [
        flow_at(
            401,
            at=T + 0.5 * n,
            request_headers=[BEARER],
            response_headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')],
        )
        for n in range(4)
    ]
    addon.send(*flows)

    assert all("retry-storm" not in causes(f) for f in flows[: RETRY_THRESHOLD - 1])
    storm = finding(flows[-1], "retry-storm")
    assert "4 times in 1.5 s (one every 0.5 s)" in storm["summary"]
    assert causes(flows[-1])[0] == "token-rejected", (
        "the storm is not why it was refused"
    )


def test_refusals_spread_out_or_elsewhere_are_no_storm(addon: Proxy) -> None:
    spread = [
        flow_at(401, at=T + n * (RETRY_WINDOW / 1.5), request_headers=[BEARER])
        for n in range(RETRY_THRESHOLD)
    ]
    elsewhere = [
        flow_at(
            401,
            at=T + 200 + n,
            url=f"https://api.example.com/r{n}",
            request_headers=[BEARER],
        )
        for n in range(RETRY_THRESHOLD)
    ]
    addon.send(*spread, *elsewhere)

    assert "retry-storm" not in causes(spread[-1])
    assert "retry-storm" not in causes(elsewhere[-1])
