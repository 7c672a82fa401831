"""Platform signatures: each vendor's refusal, shaped as the vendor sends it.

The cases live in tests/support/vendors.py with the source of each shape; the
live tests serve the same cases through a real mitmdump.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from mitmproxy import http
from tests.support.flows import REQUEST_TIME
from tests.support.sequences import Proxy, causes, finding, flow_at, proxy
from tests.support.vendors import (
    VENDOR_CASES,
    VendorCase,
    basic,
    jwt_for,
    nginx_page,
    response_body,
)

from authdiag.platforms import ABSENCES, INTERMEDIARIES, SIGNATURES

T = REQUEST_TIME
STATUSES = "401,403,407,500"


@pytest.fixture
def addon() -> Iterator[Proxy]:
    with proxy(authdiag_statuses=STATUSES) as running:
        yield running


def vendor_flow(case: VendorCase, at: float = T) -> http.HTTPFlow:
    headers = list(case.request_headers(at))
    authorization = dict(headers).get("Authorization")
    return flow_at(
        case.status,
        at=at,
        url=f"https://api.example.com{case.path}",
        method=case.method,
        request_headers=headers,
        response_headers=case.response_headers,
        body=response_body(case, at, authorization),
    )


@pytest.mark.parametrize("case", VENDOR_CASES, ids=[c.name for c in VENDOR_CASES])
def test_each_platform_refusal_is_named_by_its_signature(
    addon: Proxy, case: VendorCase
) -> None:
    flow = addon.send(vendor_flow(case))

    assert causes(flow)[0] == case.cause, causes(flow)
    verdict = finding(flow, case.cause)
    signature = next(s for s in SIGNATURES if s.cause == case.cause)
    assert verdict["evidence"][0].startswith(f"response: {signature.platform}")
    written = json.dumps(flow.metadata["authdiag"]) + flow.comment
    for secret in case.secrets(T):
        assert secret not in written, "a credential reached the annotation"


def test_every_platform_signature_has_a_vendor_shaped_case() -> None:
    assert {s.cause for s in SIGNATURES} == {c.cause for c in VENDOR_CASES}


def test_every_table_entry_cites_its_source() -> None:
    sources = [s.source for s in SIGNATURES] + [a.source for a in ABSENCES]
    sources += [i.source for i in INTERMEDIARIES]
    assert all(source.startswith("https://") for source in sources)


@pytest.mark.parametrize(
    ("case_name", "change"),
    [
        pytest.param(
            "aws-cognito-id-token", "drop-headers", id="aws-without-errortype"
        ),
        pytest.param("github-revoked-token", "drop-body-link", id="github-lookalike"),
        pytest.param("wordpress-login-password", "elsewhere", id="wp-code-off-wp-json"),
        pytest.param("nginx-wrong-password", "drop-headers", id="basic-not-from-nginx"),
    ],
)
def test_a_lookalike_without_the_platform_marker_is_not_claimed(
    addon: Proxy, case_name: str, change: str
) -> None:
    case = next(c for c in VENDOR_CASES if c.name == case_name)
    headers = [
        (name, value)
        for name, value in case.response_headers
        if change != "drop-headers" or name.lower() == "www-authenticate"
    ]
    body = case.body
    if change == "drop-body-link":
        body = b'{"message": "Bad credentials"}'
    path = "/api/users/me" if change == "elsewhere" else case.path
    flow = addon.send(
        flow_at(
            case.status,
            url=f"https://api.example.com{path}",
            request_headers=case.request_headers(T),
            response_headers=headers,
            body=body,
        )
    )

    assert case.cause not in causes(flow)
    assert causes(flow), "a generic cause still explains the refusal"


def test_generic_causes_give_way_to_the_platform_that_explains_them(
    addon: Proxy,
) -> None:
    case = next(c for c in VENDOR_CASES if c.name == "google-expired-access-token")
    flow = addon.send(vendor_flow(case))

    assert causes(flow)[0] == "google-invalid-credentials"
    assert "token-rejected" not in causes(flow)


# --- what the explainers add ----------------------------------------------------------


def cognito_token(use: str) -> str:
    return jwt_for(
        T,
        iss="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
        client_id="4j3k2l1m0n9o8p7q6r5s4t3u2v",
        token_use=use,
    )


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        pytest.param(cognito_token("id"), "ID token", id="id-token"),
        pytest.param(cognito_token("access"), "access token", id="access-token"),
        pytest.param(None, "found no token", id="no-token"),
    ],
)
def test_an_authorizer_refusal_says_what_kind_of_cognito_token_was_sent(
    addon: Proxy, authorization: str | None, expected: str
) -> None:
    case = next(c for c in VENDOR_CASES if c.cause == "aws-authorizer-unauthorized")
    headers = [("Authorization", authorization)] if authorization else []
    flow = addon.send(
        flow_at(
            401,
            request_headers=headers,
            response_headers=case.response_headers,
            body=case.body,
        )
    )

    verdict = finding(flow, "aws-authorizer-unauthorized")
    assert expected in verdict["summary"]
    if authorization:
        assert any("eu-west-1_AbCdEf123" in line for line in verdict["evidence"])


@pytest.mark.parametrize(
    ("signed_ago", "server_ahead", "expected"),
    [
        pytest.param(1200, 0, "signed 20 min before it was sent", id="reused"),
        pytest.param(0, 900, "clock is 15 min behind", id="client-clock-slow"),
    ],
)
def test_an_expired_sigv4_signature_tells_a_reused_one_from_a_slow_clock(
    addon: Proxy, signed_ago: float, server_ahead: float, expected: str
) -> None:
    case = next(c for c in VENDOR_CASES if c.cause == "aws-signature-expired")
    from tests.support.vendors import _sigv4

    flow = addon.send(
        flow_at(
            403,
            request_headers=_sigv4(T, signed_ago=signed_ago),
            response_headers=case.response_headers,
            body=response_body(case, T, None),
            server_clock_offset=server_ahead,
        )
    )

    assert expected in finding(flow, "aws-signature-expired")["summary"]


@pytest.mark.parametrize(
    ("headers", "expected", "confidence"),
    [
        pytest.param(
            [("x-api-key", "k" * 30)], "refused the x-api-key", "high", id="x"
        ),
        pytest.param(
            [("Api-Key", "k" * 30)], "reads only the x-api-key", "high", id="name"
        ),
        pytest.param([], "no x-api-key", "medium", id="none"),
    ],
)
def test_an_api_gateway_forbidden_says_what_happened_to_the_key(
    addon: Proxy, headers: list[tuple[str, str]], expected: str, confidence: str
) -> None:
    case = next(c for c in VENDOR_CASES if c.cause == "aws-api-key-forbidden")
    flow = addon.send(
        flow_at(
            403,
            request_headers=headers,
            response_headers=case.response_headers,
            body=case.body,
        )
    )

    verdict = finding(flow, "aws-api-key-forbidden")
    assert expected in verdict["summary"]
    assert verdict["confidence"] == confidence


def test_an_echoed_authorization_header_is_not_quoted_even_in_part(
    addon: Proxy,
) -> None:
    case = next(c for c in VENDOR_CASES if c.cause == "aws-incomplete-signature")
    token = jwt_for(T, scope="orders")
    flow = addon.send(vendor_flow(case))

    written = json.dumps(flow.metadata["authdiag"])
    pieces = {token[i : i + 16] for i in range(0, len(token) - 16, 8)}
    assert not any(piece in written for piece in pieces)


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        pytest.param("abcd EFGH 1234 ijkl MNOP 5678", "revoked, mistyped", id="app"),
        pytest.param("Summer-2026!", "login password", id="login"),
    ],
)
def test_wordpress_tells_a_login_password_from_an_application_password(
    addon: Proxy, password: str, expected: str
) -> None:
    case = next(
        c for c in VENDOR_CASES if c.cause.startswith("wordpress-application-p")
    )
    flow = addon.send(
        flow_at(
            401,
            url="https://blog.example.com/wp-json/wp/v2/posts",
            request_headers=[("Authorization", basic("editor", password))],
            response_headers=case.response_headers,
            body=case.body,
        )
    )

    verdict = finding(flow, "wordpress-application-password-refused")
    assert expected in verdict["summary"]
    assert password not in json.dumps(verdict)


def test_kubernetes_treating_a_request_with_a_token_as_anonymous_is_not_rbac(
    addon: Proxy,
) -> None:
    body = json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": 'pods is forbidden: User "system:anonymous" cannot list '
            'resource "pods" in API group "" in the namespace "default"',
            "reason": "Forbidden",
            "details": {"kind": "pods"},
            "code": 403,
        }
    ).encode()
    flow = addon.send(
        flow_at(
            403,
            url="https://k8s.example.com:6443/api/v1/namespaces/default/pods",
            request_headers=[("Authorization", "Bearer k8s-token-0123456789abcdef")],
            response_headers=[("Content-Type", "application/json")],
            body=body,
        )
    )

    assert causes(flow)[0] == "authorization-not-forwarded"
    assert "kubernetes-rbac-forbidden" not in causes(flow)


def test_an_earlier_challenge_makes_the_missing_user_file_a_sure_thing(
    addon: Proxy,
) -> None:
    challenge = flow_at(
        401,
        at=T - 5,
        url="https://intranet.example.com/admin/",
        response_headers=[
            ("Server", "nginx/1.22.1"),
            ("WWW-Authenticate", 'Basic realm="orders"'),
        ],
        body=nginx_page("401 Authorization Required"),
    )
    missing = flow_at(
        403,
        url="https://intranet.example.com/admin/",
        request_headers=[("Authorization", basic("alice", "secret"))],
        response_headers=[("Server", "nginx/1.22.1"), ("Content-Type", "text/html")],
        body=nginx_page("403 Forbidden"),
    )

    flow = addon.send(challenge, missing)

    verdict = finding(flow, "nginx-htpasswd-missing")
    assert verdict["confidence"] == "high"
    assert any(line.startswith("history:") for line in verdict["evidence"])
