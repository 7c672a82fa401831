"""The live harness itself: each server endpoint refuses as intended when asked
directly (no proxy), and a bare mitmdump saves flows the harness can find.

If these fail, the live addon tests say nothing about the addon.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import trustme
from requests.auth import HTTPDigestAuth
from tests.support.proxy import (
    CURL,
    MitmdumpFactory,
    clean_environment,
    client_session,
    new_case,
)
from tests.support.servers import (
    API_KEY,
    PASSWORD,
    PROXY_PASSWORD,
    PROXY_USER,
    USER,
    ProxyAuthServer,
    RefusingServer,
    TokenMinter,
    basic_credentials,
)


@pytest.fixture
def direct(trust_ca_pem: Path) -> Iterator[requests.Session]:
    """A session straight to the server, trusting the test CA."""
    with requests.Session() as session:
        session.trust_env = False
        session.verify = str(trust_ca_pem)
        yield session


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": f"Basic {basic_credentials(user, password)}"}


def challenge(response: requests.Response) -> str | None:
    return response.headers.get("WWW-Authenticate")


def direct_curl(trust_ca_pem: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """curl to the server without any proxy; stdout ends with the status code."""
    command = [str(CURL), "-sS", "--cacert", str(trust_ca_pem)]
    return subprocess.run(
        [*command, "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_environment(),
        check=False,
    )


# --- Basic and /admin ---------------------------------------------------------------


def test_basic_accepts_a_password_containing_a_colon(
    direct: requests.Session, refusing_server: RefusingServer
) -> None:
    response = direct.get(refusing_server.url("/basic"), auth=(USER, PASSWORD))
    assert response.status_code == 200
    assert response.json()["user"] == USER


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(USER, "correct"),  # split at the last colon would wrongly accept this
        basic("bob", PASSWORD),
        {"Authorization": "Basic %%%notbase64"},
    ],
    ids=["missing", "wrong-password", "wrong-user", "undecodable"],
)
def test_basic_refuses_with_a_charset_challenge_and_an_html_page(
    direct: requests.Session, refusing_server: RefusingServer, headers: dict[str, str]
) -> None:
    response = direct.get(refusing_server.url("/basic"), headers=headers)
    assert response.status_code == 401
    assert challenge(response) == 'Basic realm="orders", charset="UTF-8"'
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<title>401 Unauthorized</title>" in response.text


def test_admin_forbids_a_known_user(
    direct: requests.Session, refusing_server: RefusingServer
) -> None:
    response = direct.get(refusing_server.url("/admin"), auth=(USER, PASSWORD))
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response.headers
    assert response.json() == {
        "detail": "You do not have permission to perform this action."
    }


# --- Bearer -------------------------------------------------------------------------


def test_bearer_accepts_a_valid_token(
    direct: requests.Session, refusing_server: RefusingServer, tokens: TokenMinter
) -> None:
    response = direct.get(
        refusing_server.url("/bearer"), headers=bearer(tokens.valid())
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers", [{}, basic(USER, PASSWORD)], ids=["no-credentials", "basic"]
)
def test_bearer_without_a_token_gets_a_bare_challenge(
    direct: requests.Session, refusing_server: RefusingServer, headers: dict[str, str]
) -> None:
    response = direct.get(refusing_server.url("/bearer"), headers=headers)
    assert response.status_code == 401
    assert challenge(response) == 'Bearer realm="orders"'


@pytest.mark.parametrize(
    ("mint", "description"),
    [
        (TokenMinter.expired, "token expired"),
        (TokenMinter.not_yet_valid, "token not yet valid"),
        (TokenMinter.wrong_audience, "audience is not orders-api"),
        (TokenMinter.wrong_key, "signature verification failed"),
        (TokenMinter.unsigned, "unsigned or unsupported algorithm"),
        (TokenMinter.staging, "untrusted issuer"),
        # pyjwt checks the signature before it parses the payload.
        (
            lambda _: "eyJhbGciOiJIUzI1NiJ9.not-json.sig",
            "signature verification failed",
        ),
        (lambda minter: f"Bearer {minter.valid()}", "malformed token"),
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "wrong-aud",
        "wrong-key",
        "alg-none",
        "staging-issuer",
        "not-json",
        "doubled-scheme",
    ],
)
def test_bearer_rejects_a_bad_token_with_a_specific_description(
    direct: requests.Session,
    refusing_server: RefusingServer,
    tokens: TokenMinter,
    mint: object,
    description: str,
) -> None:
    token = mint(tokens)  # type: ignore[operator]
    response = direct.get(refusing_server.url("/bearer"), headers=bearer(token))
    assert response.status_code == 401
    assert challenge(response) == (
        f'Bearer realm="orders", error="invalid_token", '
        f'error_description="{description}"'
    )
    assert response.json() == {
        "error": "invalid_token",
        "error_description": description,
    }


def test_a_revoked_token_is_refused_while_others_still_pass(
    direct: requests.Session, refusing_server: RefusingServer, tokens: TokenMinter
) -> None:
    revoked, other = tokens.valid(), tokens.valid()
    refusing_server.revoke(revoked)

    refused = direct.get(refusing_server.url("/bearer"), headers=bearer(revoked))
    accepted = direct.get(refusing_server.url("/bearer"), headers=bearer(other))

    assert refused.status_code == 401
    assert refused.json()["error_description"] == "token revoked"
    assert accepted.status_code == 200


def test_writing_needs_the_write_scope(
    direct: requests.Session, refusing_server: RefusingServer, tokens: TokenMinter
) -> None:
    url = refusing_server.url("/bearer/write")
    refused = direct.get(url, headers=bearer(tokens.valid()))
    accepted = direct.get(url, headers=bearer(tokens.with_write_scope()))

    assert refused.status_code == 403
    assert challenge(refused) == (
        'Bearer realm="orders", error="insufficient_scope", scope="orders:write"'
    )
    assert accepted.status_code == 200


# --- API key, mystery, open ---------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "No API key found in request"),
        ({"X-API-Key": "ak_live_wrong"}, 401, "Invalid authentication credentials"),
        ({"X-API-Key": API_KEY}, 200, None),
    ],
    ids=["missing", "wrong", "right"],
)
def test_api_key_answers_like_kong(
    direct: requests.Session,
    refusing_server: RefusingServer,
    headers: dict[str, str],
    status: int,
    message: str | None,
) -> None:
    response = direct.get(refusing_server.url("/apikey"), headers=headers)
    assert response.status_code == status
    assert "WWW-Authenticate" not in response.headers
    assert response.json().get("message") == message


def test_mystery_refuses_without_any_explanation(
    direct: requests.Session, refusing_server: RefusingServer
) -> None:
    headers = {"Authorization": "Custom abc123def"}
    response = direct.get(refusing_server.url("/mystery"), headers=headers)
    assert response.status_code == 401
    assert "WWW-Authenticate" not in response.headers
    assert response.content == b""


def test_open_needs_nothing(
    direct: requests.Session, refusing_server: RefusingServer
) -> None:
    assert direct.get(refusing_server.url("/open")).status_code == 200


# --- sessions -----------------------------------------------------------------------


def test_a_session_works_until_the_server_expires_it(
    direct: requests.Session, refusing_server: RefusingServer
) -> None:
    login = direct.post(refusing_server.url("/session/login"))
    session_id = login.cookies.get("sessionid")
    assert session_id is not None
    set_cookie = login.headers["Set-Cookie"]
    assert set_cookie == f"sessionid={session_id}; Path=/; HttpOnly; Secure"

    account = refusing_server.url("/session/account")
    assert direct.get(account).status_code == 200

    refusing_server.expire_session(session_id)
    expired = direct.get(account)

    assert expired.status_code == 401
    assert expired.json() == {"detail": "Session expired"}
    assert expired.headers["Set-Cookie"] == "sessionid=; Max-Age=0; Path=/"


def test_an_unknown_session_is_reported_expired(
    direct: requests.Session, refusing_server: RefusingServer
) -> None:
    headers = {"Cookie": "sessionid=never-issued"}
    response = direct.get(refusing_server.url("/session/account"), headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Session expired"}


def test_logout_ends_the_session(
    direct: requests.Session, refusing_server: RefusingServer
) -> None:
    direct.post(refusing_server.url("/session/login"))
    session_id = direct.cookies["sessionid"]
    direct.post(refusing_server.url("/session/logout"))

    headers = {"Cookie": f"sessionid={session_id}"}
    response = direct.get(refusing_server.url("/session/account"), headers=headers)
    assert response.status_code == 401


# --- Digest -------------------------------------------------------------------------


@pytest.fixture(params=["SHA-256", "MD5"])
def digest_server(
    request: pytest.FixtureRequest, trust_ca: trustme.CA
) -> Iterator[RefusingServer]:
    with RefusingServer(trust_ca, digest_algorithm=request.param) as server:
        yield server


def test_requests_completes_a_digest_handshake(
    direct: requests.Session, digest_server: RefusingServer
) -> None:
    response = direct.get(
        digest_server.url("/digest", "x"), auth=HTTPDigestAuth(USER, PASSWORD)
    )
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]


def test_curl_completes_a_digest_handshake(
    trust_ca_pem: Path, digest_server: RefusingServer
) -> None:
    result = direct_curl(
        trust_ca_pem,
        "--digest",
        "-u",
        f"{USER}:{PASSWORD}",
        digest_server.url("/digest", "with query"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\n200")


def test_digest_with_a_wrong_password_gets_a_new_challenge_without_stale(
    direct: requests.Session, refusing_server: RefusingServer
) -> None:
    response = direct.get(
        refusing_server.url("/digest"), auth=HTTPDigestAuth(USER, "wrong:horse")
    )
    assert response.status_code == 401
    assert "stale" not in (challenge(response) or "")


def test_digest_reports_an_expired_nonce_as_stale_and_the_client_recovers(
    direct: requests.Session, refusing_server: RefusingServer
) -> None:
    direct.auth = HTTPDigestAuth(USER, PASSWORD)
    assert direct.get(refusing_server.url("/digest")).status_code == 200

    refusing_server.expire_digest_nonces()
    response = direct.get(refusing_server.url("/digest"))

    assert response.status_code == 200
    (stale,) = response.history
    assert stale.status_code == 401
    assert "stale=true" in (challenge(stale) or "")


# --- the 407 proxy ------------------------------------------------------------------


def test_the_upstream_proxy_wants_its_own_credentials(
    proxy_auth_server: ProxyAuthServer,
) -> None:
    proxies = {"http": proxy_auth_server.url}
    with requests.Session() as session:
        session.trust_env = False
        refused = session.get("http://127.0.0.1:9/x", proxies=proxies)
        credential = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode())
        headers = {"Proxy-Authorization": f"Basic {credential.decode()}"}
        authenticated = session.get(
            "http://127.0.0.1:9/x", proxies=proxies, headers=headers
        )

    assert refused.status_code == 407
    assert refused.headers["Proxy-Authenticate"] == 'Basic realm="corp-proxy"'
    assert authenticated.status_code != 407


# --- the harness around mitmdump ----------------------------------------------------


def test_a_bare_mitmdump_saves_flows_that_the_harness_finds_while_it_runs(
    mitmdump_factory: MitmdumpFactory, refusing_server: RefusingServer
) -> None:
    proxy = mitmdump_factory(script=None)
    case = new_case("harness")
    with client_session(proxy) as session:
        response = session.get(refusing_server.url("/apikey", case))

    flow = proxy.flow_for(case)
    assert response.status_code == 401
    assert flow.response is not None
    assert flow.response.status_code == 401
    assert json.loads(flow.response.content or b"") == {
        "message": "No API key found in request"
    }
    # The dumper shortens long URLs, so look for the start of the request line.
    assert f"GET {refusing_server.url('/apikey')}" in proxy.wait_for_log("<< 401")

    assert proxy.stop() == 0
    assert len(proxy.flows(strict=True)) == 1
