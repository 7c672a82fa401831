"""End to end: real clients, through a real mitmdump running the addon, to real
servers that refuse for real; then the flow mitmdump saved is read back.

Each request carries ``?case=<scenario>-<uuid>`` so its flow can be found in the
shared ``-w`` file. Every scenario also checks that no credential it sent reaches
the annotation, the comment or mitmdump's log in full.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
import requests
from mitmproxy import http
from requests.auth import HTTPDigestAuth
from tests.support.proxy import (
    Curl,
    Mitmdump,
    MitmdumpFactory,
    case_of,
    client_session,
    new_case,
    with_case,
)
from tests.support.reports import assert_no_secret_leaked
from tests.support.servers import (
    PASSWORD,
    USER,
    ProxyAuthServer,
    RefusingServer,
    TokenMinter,
    basic_credentials,
)

WRONG_PASSWORD = "wrong:horse-battery"
WRONG_API_KEY = "ak_live_0000000000deadbeef00"
NOT_JSON_JWT = "eyJhbGciOiJIUzI1NiJ9.not-json.sig"
UNDECODABLE_BASIC = "%%%notbase64"
CUSTOM_CREDENTIAL = "abc123def"


@pytest.fixture
def log_mark(mitmdump: Mitmdump) -> int:
    """Where mitmdump's log ended before the test made its requests."""
    return mitmdump.log_mark()


def response_status(flow: http.HTTPFlow) -> int | None:
    return flow.response.status_code if flow.response else None


def findings_of(flow: http.HTTPFlow) -> list[dict[str, object]]:
    annotation = flow.metadata.get("authdiag")
    assert annotation is not None, f"no authdiag annotation on {flow.request.url}"
    findings: list[dict[str, object]] = annotation["findings"]
    assert findings, f"annotation without findings on {flow.request.url}"
    return findings


def assert_diagnosed(
    proxy: Mitmdump,
    flow: http.HTTPFlow,
    cause: str,
    *,
    since: int,
    secrets: Iterable[str] = (),
) -> None:
    """The flow's verdict is ``cause``, it is marked and commented, and the proxy
    logged the cause after ``since``."""
    # The addon's log line may quote the URL: were the cause id in the case
    # marker, the log check below would pass whatever the addon logged.
    case = case_of(flow)
    assert case is not None and cause not in case, "name the case apart from the cause"
    causes = [finding["cause"] for finding in findings_of(flow)]
    assert causes[0] == cause, f"verdict {causes[0]!r}, all findings: {causes}"
    assert flow.marked, "a refusal worth acting on is marked"
    assert flow.comment, "a diagnosed flow carries a comment"
    # mitmdump's terminal log prints no level names: the levels are checked by
    # test_a_refusal_is_logged_at_warning_and_a_handshake_at_info.
    proxy.wait_for_record(cause, since=since)
    assert_no_secret_leaked(proxy, flow, secrets)


def assert_not_annotated(flow: http.HTTPFlow) -> None:
    assert "authdiag" not in flow.metadata, flow.metadata.get("authdiag")
    assert not flow.marked
    assert not flow.comment


# --- what was sent is missing or malformed --------------------------------------


def test_no_credentials_at_all_is_credentials_missing(
    mitmdump: Mitmdump, refusing_server: RefusingServer, curl: Curl, log_mark: int
) -> None:
    case = new_case("curl-no-credentials")
    result = curl(refusing_server.url("/bearer", case))

    assert result.returncode == 0, result.stderr
    assert result.status == 401
    flow = mitmdump.flow_for(case)
    assert_diagnosed(mitmdump, flow, "credentials-missing", since=log_mark)


def test_basic_credentials_sent_to_a_bearer_endpoint_are_a_scheme_mismatch(
    mitmdump: Mitmdump,
    refusing_server: RefusingServer,
    proxied_session: requests.Session,
    log_mark: int,
) -> None:
    case = new_case("basic-to-bearer")
    response = proxied_session.get(
        refusing_server.url("/bearer", case), auth=(USER, PASSWORD)
    )

    assert response.status_code == 401
    assert_diagnosed(
        mitmdump,
        mitmdump.flow_for(case),
        "scheme-mismatch",
        since=log_mark,
        secrets=[PASSWORD, basic_credentials(USER, PASSWORD)],
    )


def test_a_doubled_bearer_scheme_is_a_malformed_authorization(
    mitmdump: Mitmdump,
    refusing_server: RefusingServer,
    proxied_session: requests.Session,
    tokens: TokenMinter,
    log_mark: int,
) -> None:
    case = new_case("bearer-bearer")
    token = tokens.valid()
    headers = {"Authorization": f"Bearer Bearer {token}"}
    response = proxied_session.get(
        refusing_server.url("/bearer", case), headers=headers
    )

    assert response.status_code == 401
    assert_diagnosed(
        mitmdump,
        mitmdump.flow_for(case),
        "authorization-malformed",
        since=log_mark,
        secrets=[token],
    )


def test_undecodable_basic_credentials_are_basic_malformed(
    mitmdump: Mitmdump,
    refusing_server: RefusingServer,
    proxied_session: requests.Session,
    log_mark: int,
) -> None:
    case = new_case("basic-not-base64")
    headers = {"Authorization": f"Basic {UNDECODABLE_BASIC}"}
    response = proxied_session.get(refusing_server.url("/basic", case), headers=headers)

    assert response.status_code == 401
    assert_diagnosed(
        mitmdump,
        mitmdump.flow_for(case),
        "basic-malformed",
        since=log_mark,
        secrets=[UNDECODABLE_BASIC],
    )


# --- the token itself says why ------------------------------------------------------

TokenRecipe = Callable[[TokenMinter], str]


@pytest.mark.parametrize(
    ("recipe", "cause"),
    [
        pytest.param(TokenMinter.expired, "jwt-expired", id="expired"),
        pytest.param(
            TokenMinter.not_yet_valid, "jwt-not-yet-valid", id="nbf-an-hour-ahead"
        ),
        pytest.param(lambda _: NOT_JSON_JWT, "jwt-malformed", id="payload-not-json"),
        pytest.param(TokenMinter.unsigned, "jwt-unsigned", id="alg-none"),
        pytest.param(
            TokenMinter.wrong_audience, "jwt-audience-mismatch", id="wrong-audience"
        ),
    ],
)
def test_a_refused_jwt_is_diagnosed_from_its_own_claims(
    mitmdump: Mitmdump,
    refusing_server: RefusingServer,
    proxied_session: requests.Session,
    tokens: TokenMinter,
    log_mark: int,
    recipe: TokenRecipe,
    cause: str,
    request: pytest.FixtureRequest,
) -> None:
    case = new_case(request.node.callspec.id)
    token = recipe(tokens)
    headers = {"Authorization": f"Bearer {token}"}
    response = proxied_session.get(
        refusing_server.url("/bearer", case), headers=headers
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert_diagnosed(
        mitmdump, mitmdump.flow_for(case), cause, since=log_mark, secrets=[token]
    )


def test_a_valid_token_without_the_needed_scope_is_insufficient_scope(
    mitmdump: Mitmdump,
    refusing_server: RefusingServer,
    proxied_session: requests.Session,
    tokens: TokenMinter,
    log_mark: int,
) -> None:
    case = new_case("write-without-scope")
    token = tokens.valid()
    headers = {"Authorization": f"Bearer {token}"}
    response = proxied_session.post(
        refusing_server.url("/bearer/write", case), headers=headers
    )

    assert response.status_code == 403
    flow = mitmdump.flow_for(case)
    assert response_status(flow) == 403
    assert_diagnosed(
        mitmdump, flow, "token-insufficient-scope", since=log_mark, secrets=[token]
    )


def test_a_token_signed_with_another_key_is_token_rejected(
    mitmdump: Mitmdump,
    refusing_server: RefusingServer,
    proxied_session: requests.Session,
    tokens: TokenMinter,
    log_mark: int,
) -> None:
    case = new_case("wrong-signing-key")
    token = tokens.wrong_key()
    headers = {"Authorization": f"Bearer {token}"}
    response = proxied_session.get(
        refusing_server.url("/bearer", case), headers=headers
    )

    assert response.status_code == 401
    assert_diagnosed(
        mitmdump,
        mitmdump.flow_for(case),
        "token-rejected",
        since=log_mark,
        secrets=[token],
    )


def test_a_revoked_token_is_token_rejected(
    mitmdump: Mitmdump,
    refusing_server: RefusingServer,
    proxied_session: requests.Session,
    tokens: TokenMinter,
    log_mark: int,
) -> None:
    case = new_case("revoked-jti")
    token = tokens.valid()
    refusing_server.revoke(token)
    headers = {"Authorization": f"Bearer {token}"}
    response = proxied_session.get(
        refusing_server.url("/bearer", case), headers=headers
    )

    assert response.status_code == 401
    assert response.json()["error_description"] == "token revoked"
    assert_diagnosed(
        mitmdump,
        mitmdump.flow_for(case),
        "token-rejected",
        since=log_mark,
        secrets=[token],
    )


# --- the credential is well formed but wrong ------------------------------------------


def test_a_wrong_api_key_is_api_key_rejected(
    mitmdump: Mitmdump,
    refusing_server: RefusingServer,
    proxied_session: requests.Session,
    log_mark: int,
) -> None:
    case = new_case("wrong-api-key")
    headers = {"X-API-Key": WRONG_API_KEY}
    response = proxied_session.get(
        refusing_server.url("/apikey", case), headers=headers
    )

    assert response.status_code == 401
    assert_diagnosed(
        mitmdump,
        mitmdump.flow_for(case),
        "api-key-rejected",
        since=log_mark,
        secrets=[WRONG_API_KEY],
    )


def test_a_wrong_basic_password_is_credentials_rejected(
    mitmdump: Mitmdump, refusing_server: RefusingServer, curl: Curl, log_mark: int
) -> None:
    case = new_case("curl-wrong-password")
    result = curl("-u", f"{USER}:{WRONG_PASSWORD}", refusing_server.url("/basic", case))

    assert result.returncode == 0, result.stderr
    assert result.status == 401
    assert_diagnosed(
        mitmdump,
        mitmdump.flow_for(case),
        "credentials-rejected",
        since=log_mark,
        secrets=[WRONG_PASSWORD, basic_credentials(USER, WRONG_PASSWORD)],
    )


def test_a_known_user_without_permission_is_forbidden(
    mitmdump: Mitmdump,
    refusing_server: RefusingServer,
    proxied_session: requests.Session,
    log_mark: int,
) -> None:
    case = new_case("admin-known-user")
    response = proxied_session.get(
        refusing_server.url("/admin", case), auth=(USER, PASSWORD)
    )

    assert response.status_code == 403
    assert_diagnosed(
        mitmdump,
        mitmdump.flow_for(case),
        "forbidden",
        since=log_mark,
        secrets=[PASSWORD, basic_credentials(USER, PASSWORD)],
    )


# --- Digest ---------------------------------------------------------------------------


def assert_routine_digest_handshake(proxy: Mitmdump, case: str) -> None:
    """The case is a challenge then a success: the challenge is annotated as a
    normal handshake but not marked, the success is left alone."""
    challenge, success = proxy.flows_for(case, count=2)
    assert response_status(challenge) == 401
    assert findings_of(challenge)[0]["cause"] == "challenge-handshake"
    assert not challenge.marked, "the first 401 of a handshake is normal"
    assert response_status(success) == 200
    assert_not_annotated(success)
    for flow in (challenge, success):
        assert_no_secret_leaked(proxy, flow, [PASSWORD])


def test_a_digest_handshake_is_routine_and_ends_unannotated(
    mitmdump: Mitmdump, refusing_server: RefusingServer, curl: Curl
) -> None:
    case = new_case("curl-digest")
    result = curl(
        "--digest", "-u", f"{USER}:{PASSWORD}", refusing_server.url("/digest", case)
    )

    assert result.returncode == 0, result.stderr
    assert result.status == 200
    assert_routine_digest_handshake(mitmdump, case)


LOG_LEVELS_SCRIPT = Path(__file__).parent / "support" / "log_levels.py"


def test_a_refusal_is_logged_at_warning_and_a_handshake_at_info(
    mitmdump_factory: MitmdumpFactory,
    refusing_server: RefusingServer,
    tokens: TokenMinter,
    tmp_path: Path,
) -> None:
    levels = tmp_path / "levels.log"
    proxy = mitmdump_factory(
        ["-s", str(LOG_LEVELS_SCRIPT), "--set", f"log_levels_file={levels}"]
    )
    handshake_case, refusal_case = new_case("level-digest"), new_case("level-jwt")
    with client_session(proxy) as session:
        handshake = session.get(
            refusing_server.url("/digest", handshake_case),
            auth=HTTPDigestAuth(USER, PASSWORD),
        )
        refused = session.get(
            refusing_server.url("/bearer", refusal_case),
            headers={"Authorization": f"Bearer {tokens.expired()}"},
        )

    assert handshake.status_code == 200 and refused.status_code == 401
    proxy.flow_for(refusal_case)  # saved after it was diagnosed and logged
    records = levels.read_text(encoding="utf-8").splitlines()
    assert [r.split(" ", 1)[0] for r in records if refusal_case in r] == ["WARNING"]
    assert "→ jwt-expired (" in next(r for r in records if refusal_case in r)
    assert [r.split(" ", 1)[0] for r in records if handshake_case in r] == ["INFO"]
    assert "→ challenge-handshake (" in next(r for r in records if handshake_case in r)


def test_an_expired_digest_nonce_is_digest_stale_nonce(
    mitmdump: Mitmdump,
    refusing_server: RefusingServer,
    proxied_session: requests.Session,
    log_mark: int,
) -> None:
    proxied_session.auth = HTTPDigestAuth(USER, PASSWORD)
    fresh = new_case("digest-first")
    first = proxied_session.get(refusing_server.url("/digest", fresh))
    assert first.status_code == 200
    assert_routine_digest_handshake(mitmdump, fresh)

    refusing_server.expire_digest_nonces()
    case = new_case("digest-after-expiry")
    second = proxied_session.get(refusing_server.url("/digest", case))

    # requests answers the stale challenge with the same password and gets in.
    assert second.status_code == 200
    flows = mitmdump.flows_for(case, count=2)
    stale = [
        flow
        for flow in flows
        if flow.response is not None
        and "stale=true" in flow.response.headers.get("WWW-Authenticate", "")
    ]
    assert len(stale) == 1, [response_status(flow) for flow in flows]
    assert_diagnosed(
        mitmdump, stale[0], "digest-stale-nonce", since=log_mark, secrets=[PASSWORD]
    )
    assert_not_annotated(flows[-1])


# --- sessions, proxies and the rest ------------------------------------------------


def test_a_cookie_for_a_session_the_server_expired_is_session_expired(
    mitmdump: Mitmdump,
    refusing_server: RefusingServer,
    curl: Curl,
    tmp_path: Path,
    log_mark: int,
) -> None:
    jar = tmp_path / "cookies.txt"
    login = curl(
        "-X",
        "POST",
        "-c",
        str(jar),
        refusing_server.url("/session/login", new_case("login")),
    )
    assert login.status == 200, login.stderr
    found = re.search(r"(?im)^set-cookie: sessionid=([^;\s]+)", login.headers)
    assert found, login.headers
    session_id = found.group(1)

    refusing_server.expire_session(session_id)
    case = new_case("curl-stale-cookie")
    result = curl("-b", str(jar), refusing_server.url("/session/account", case))

    assert result.status == 401
    assert json.loads(result.body) == {"detail": "Session expired"}
    flow = mitmdump.flow_for(case)
    assert flow.request.cookies.get("sessionid") == session_id, "curl sent the cookie"
    assert_diagnosed(
        mitmdump, flow, "session-expired", since=log_mark, secrets=[session_id]
    )


def test_a_407_from_the_upstream_proxy_is_proxy_auth_required(
    upstream_mitmdump: Mitmdump, proxy_auth_server: ProxyAuthServer
) -> None:
    mark = upstream_mitmdump.log_mark()
    case = new_case("via-upstream")
    # Any plain-http URL will do: the upstream proxy refuses before it forwards.
    url = with_case(f"{proxy_auth_server.url}/reports/daily", case)
    with client_session(upstream_mitmdump) as session:
        response = session.get(url)

    assert response.status_code == 407
    assert response.headers["Proxy-Authenticate"] == 'Basic realm="corp-proxy"'
    assert_diagnosed(
        upstream_mitmdump,
        upstream_mitmdump.flow_for(case),
        "proxy-auth-required",
        since=mark,
    )


def test_a_refusal_that_explains_nothing_is_unknown(
    mitmdump: Mitmdump,
    refusing_server: RefusingServer,
    proxied_session: requests.Session,
    log_mark: int,
) -> None:
    case = new_case("custom-scheme")
    headers = {"Authorization": f"Custom {CUSTOM_CREDENTIAL}"}
    response = proxied_session.get(
        refusing_server.url("/mystery", case), headers=headers
    )

    assert response.status_code == 401
    assert_diagnosed(
        mitmdump,
        mitmdump.flow_for(case),
        "unknown",
        since=log_mark,
        secrets=[CUSTOM_CREDENTIAL],
    )


def test_a_successful_request_is_left_alone(
    mitmdump: Mitmdump,
    refusing_server: RefusingServer,
    proxied_session: requests.Session,
) -> None:
    case = new_case("open")
    response = proxied_session.get(refusing_server.url("/open", case))

    assert response.status_code == 200
    flow = mitmdump.flow_for(case)
    assert response_status(flow) == 200
    assert_not_annotated(flow)


# --- the saved file -----------------------------------------------------------------


def test_every_annotated_flow_survives_the_flow_file(
    mitmdump_factory: MitmdumpFactory,
    refusing_server: RefusingServer,
    tokens: TokenMinter,
) -> None:
    """A value in the annotation that tnetstring cannot hold (a set, an object)
    would break -w; a fresh proxy's file must re-read whole after shutdown."""
    proxy = mitmdump_factory()
    exchanges = 0
    with client_session(proxy) as session:
        requests_to_make: list[tuple[str, dict[str, str]]] = [
            ("/bearer", {}),
            ("/bearer", {"Authorization": f"Bearer {tokens.expired()}"}),
            ("/bearer", {"Authorization": f"Bearer {tokens.unsigned()}"}),
            ("/bearer/write", {"Authorization": f"Bearer {tokens.valid()}"}),
            ("/basic", {"Authorization": f"Basic {UNDECODABLE_BASIC}"}),
            ("/apikey", {"X-API-Key": WRONG_API_KEY}),
            ("/mystery", {"Authorization": f"Custom {CUSTOM_CREDENTIAL}"}),
            ("/session/account", {"Cookie": "sessionid=never-issued"}),
            ("/open", {}),
        ]
        for path, headers in requests_to_make:
            response = session.get(
                refusing_server.url(path, new_case("file")), headers=headers
            )
            exchanges += 1 + len(response.history)
        response = session.get(
            refusing_server.url("/digest", new_case("file")),
            auth=HTTPDigestAuth(USER, PASSWORD),
        )
        exchanges += 1 + len(response.history)

    assert proxy.stop() == 0, proxy.log()
    flows = proxy.flows(strict=True)

    assert len(flows) == exchanges
    annotated = [flow for flow in flows if "authdiag" in flow.metadata]
    refused = [flow for flow in flows if (response_status(flow) or 0) >= 400]
    assert len(annotated) == len(refused)
    for flow in annotated:
        json.dumps(flow.metadata["authdiag"])  # plain data all the way down
