"""End to end, between client and server: real clients, a real mitmdump with the
addon, real servers on loopback, and what happens to credentials on the way.

- python-requests and curl following a real redirect to another origin;
- headless Chromium (Debian's) sending a credentialed cross-origin fetch whose
  preflight the API refuses;
- Debian's nginx in front of an application, clearing Authorization and dropping
  a header with an underscore, and refusing Basic credentials three ways;
- a token revoked mid-session, a client retrying a refused token in a loop, a
  token sent two ways;
- the saved flows replayed offline (mitmdump -nr) reach the same verdicts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from mitmproxy import http
from mitmproxy.io import FlowReader
from tests.conftest import ADDON_SCRIPT, WIDE_STATUSES
from tests.support.nginx import Nginx
from tests.support.proxy import (
    MITMDUMP,
    Mitmdump,
    MitmdumpFactory,
    case_of,
    clean_environment,
    client_session,
    new_case,
    run_curl,
    with_case,
)
from tests.support.reports import rendered_reports
from tests.support.responders import (
    API_KEY,
    API_TOKEN,
    ApiApp,
    PageServer,
    RedirectServer,
)
from tests.support.servers import RefusingServer, TokenMinter
from tests.support.vendors import nginx_page

CHROMIUM = Path("/usr/bin/chromium")
HTPASSWD_USER, HTPASSWD_PASSWORD = "alice", "s3cret-horse"


def verdict(flow: http.HTTPFlow) -> str:
    annotation = flow.metadata.get("authdiag")
    assert annotation, f"{flow.request.method} {flow.request.url} is not annotated"
    return str(annotation["findings"][0]["cause"])


def finding(flow: http.HTTPFlow, cause: str) -> dict[str, Any]:
    for found in flow.metadata["authdiag"]["findings"]:
        if found["cause"] == cause:
            return dict(found)
    raise AssertionError(f"no {cause} finding in {flow.metadata['authdiag']}")


def assert_nothing_leaked(
    proxy: Mitmdump, flows: Iterable[http.HTTPFlow], secret: str
) -> None:
    flows = list(flows)
    for flow in flows:
        assert secret not in json.dumps(flow.metadata, default=repr)
        assert secret not in flow.comment
    assert secret not in proxy.log()
    for form, output in rendered_reports(flows).items():
        assert secret not in output, f"a credential leaked into {form}"


# --- servers --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(trust_ca: trustme.CA) -> Iterator[ApiApp]:
    with ApiApp(trust_ca) as app:
        yield app


@pytest.fixture(scope="module")
def redirector(trust_ca: trustme.CA, api: ApiApp) -> Iterator[RedirectServer]:
    """https://localhost:PORT/... → 302 → https://127.0.0.1:API_PORT/..."""
    with RedirectServer(trust_ca, api.base_url, host="localhost") as server:
        yield server


@pytest.fixture(scope="module")
def backend() -> Iterator[ApiApp]:
    with ApiApp() as app:
        yield app


@pytest.fixture(scope="module")
def nginx(backend: ApiApp) -> Iterator[Nginx]:
    # Not under pytest's tmp: its 0700 directories would keep nginx's worker
    # (user nobody when the master runs as root) out of the user files.
    workdir = Path(tempfile.mkdtemp(prefix="authdiag-nginx-"))
    workdir.chmod(0o755)
    www = workdir / "www"
    www.mkdir()
    (www / "index.html").write_text("members only\n")
    digest = base64.b64encode(hashlib.sha1(HTPASSWD_PASSWORD.encode()).digest())
    users = workdir / "users"
    users.write_text(f"{HTPASSWD_USER}:{{SHA}}{digest.decode()}\n")
    locked = workdir / "locked-users"
    shutil.copy(users, locked)
    locked.chmod(0o000)
    server = f"""
        location /strip/ {{
            proxy_set_header Authorization "";
            proxy_pass {backend.base_url}/;
        }}
        location /pass/ {{ proxy_pass {backend.base_url}/; }}
        location /members/ {{
            auth_basic "members";
            auth_basic_user_file {users};
            alias {www}/;
        }}
        location /members-missing/ {{
            auth_basic "members";
            auth_basic_user_file {workdir}/no-such-file;
            alias {www}/;
        }}
        location /members-locked/ {{
            auth_basic "members";
            auth_basic_user_file {locked};
            alias {www}/;
        }}
    """
    try:
        with Nginx(workdir, server) as running:
            yield running
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def session(wide_mitmdump: Mitmdump) -> Iterator[requests.Session]:
    wide_mitmdump.ensure_running()
    with client_session(wide_mitmdump) as session:
        yield session


# --- redirects ------------------------------------------------------------------------


def test_python_requests_drops_the_token_on_a_redirect_to_another_origin(
    wide_mitmdump: Mitmdump, session: requests.Session, redirector: RedirectServer
) -> None:
    case = new_case("requests-moved")
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    response = session.get(
        with_case(f"{redirector.base_url}/orders", case), headers=headers
    )

    assert response.status_code == 401
    assert [r.status_code for r in response.history] == [302]
    moved, refused = wide_mitmdump.flows_for(case, count=2)
    assert "authdiag" not in moved.metadata, "a redirect is not a refusal"
    assert verdict(refused) == "auth-stripped-on-redirect"
    found = finding(refused, "auth-stripped-on-redirect")
    assert "python-requests" in " ".join(found["evidence"])
    assert any(
        str(line).startswith("history: https://localhost:")
        for line in found["evidence"]
    )
    assert_nothing_leaked(wide_mitmdump, [moved, refused], API_TOKEN)


def test_curl_following_a_redirect_keeps_the_header_to_the_first_host(
    wide_mitmdump: Mitmdump, redirector: RedirectServer, tmp_path: Path
) -> None:
    case = new_case("curl-moved")
    url = with_case(f"{redirector.base_url}/orders", case)
    result = run_curl(
        wide_mitmdump, ["-L", "-H", f"Authorization: Bearer {API_TOKEN}", url], tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert result.status == 401
    _, refused = wide_mitmdump.flows_for(case, count=2)
    assert verdict(refused) == "auth-stripped-on-redirect"
    fix = finding(refused, "auth-stripped-on-redirect")["fix"]
    assert "--location-trusted" in fix[0]


# --- the browser's preflight ----------------------------------------------------------

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-pings",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,"
    "Translate,AutofillServerCommunication",
    "--ignore-certificate-errors",  # mitmproxy's CA is not in Chromium's store
    "--proxy-bypass-list=<-loopback>",  # proxy loopback too (bypassed by default)
    "--virtual-time-budget=15000",
)


def test_chromium_credentialed_fetch_whose_preflight_is_refused(
    wide_mitmdump: Mitmdump, api: ApiApp, tmp_path: Path
) -> None:
    case = new_case("browser-cors")
    target = with_case(f"{api.base_url}/orders", case)
    page = f"""<!doctype html><title>waiting</title><script>
      fetch("{target}", {{method: "POST", credentials: "include",
        headers: {{"Authorization": "Bearer {API_TOKEN}",
                   "Content-Type": "application/json"}}, body: "{{}}"}})
        .then(r => document.title = "status " + r.status)
        .catch(e => document.title = "failed: " + e.message);
    </script>"""
    with PageServer(page) as pages:
        browser = subprocess.run(
            [
                str(CHROMIUM),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={tmp_path / 'profile'}",
                f"--proxy-server={wide_mitmdump.url}",
                "--dump-dom",
                f"{pages.base_url}/app",
            ],
            capture_output=True,
            text=True,
            timeout=90,
            env=clean_environment(),
            check=False,
        )

    assert "<title>failed: Failed to fetch</title>" in browser.stdout, browser.stderr[
        -2000:
    ]
    (preflight,) = wide_mitmdump.flows_for(case)
    assert preflight.request.method == "OPTIONS", (
        "the POST itself never left the browser"
    )
    assert (
        "authorization" in preflight.request.headers["Access-Control-Request-Headers"]
    )
    assert "Authorization" not in preflight.request.headers
    assert verdict(preflight) == "preflight-unauthenticated"
    assert finding(preflight, "preflight-unauthenticated")["fault"] == "server"


# --- nginx in front of the application ------------------------------------------------


def test_nginx_clearing_authorization_is_caught_and_named(
    wide_mitmdump: Mitmdump, session: requests.Session, nginx: Nginx
) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    passed = session.get(
        with_case(f"{nginx.base_url}/pass/orders", new_case("control")), headers=headers
    )
    case = new_case("nginx-strip")
    stripped = session.get(
        with_case(f"{nginx.base_url}/strip/orders", case), headers=headers
    )

    assert passed.status_code == 200, "the same token works where nginx passes it on"
    assert stripped.status_code == 401
    flow = wide_mitmdump.flow_for(case)
    assert verdict(flow) == "authorization-not-forwarded"
    found = finding(flow, "authorization-not-forwarded")
    assert found["confidence"] == "high"
    assert "nginx" in str(found["summary"])
    assert_nothing_leaked(wide_mitmdump, [flow], API_TOKEN)


def test_nginx_dropping_a_header_with_an_underscore_is_named(
    wide_mitmdump: Mitmdump, session: requests.Session, nginx: Nginx
) -> None:
    control = session.get(
        with_case(f"{nginx.base_url}/pass/apikey", new_case("control")),
        headers={"X-Api-Key": API_KEY},
    )
    case = new_case("nginx-underscore")
    dropped = session.get(
        with_case(f"{nginx.base_url}/pass/apikey", case), headers={"X_API_KEY": API_KEY}
    )

    assert control.status_code == 200
    assert dropped.status_code == 401
    flow = wide_mitmdump.flow_for(case)
    assert verdict(flow) == "authorization-not-forwarded"
    found = finding(flow, "authorization-not-forwarded")
    assert "'X_API_KEY'" in str(found["summary"])
    assert "underscores_in_headers on" in found["fix"][0]
    assert_nothing_leaked(wide_mitmdump, [flow], API_KEY)


@pytest.mark.parametrize(
    ("location", "password", "status", "cause", "page"),
    [
        ("members", "wrong", 401, "nginx-basic-refused", "401 Authorization Required"),
        (
            "members-missing",
            HTPASSWD_PASSWORD,
            403,
            "nginx-htpasswd-missing",
            "403 Forbidden",
        ),
        (
            "members-locked",
            HTPASSWD_PASSWORD,
            500,
            "nginx-htpasswd-unreadable",
            "500 Internal Server Error",
        ),
    ],
    ids=["wrong-password", "no-user-file", "unreadable-user-file"],
)
def test_nginx_refusing_basic_credentials_is_told_apart(
    wide_mitmdump: Mitmdump,
    session: requests.Session,
    nginx: Nginx,
    location: str,
    password: str,
    status: int,
    cause: str,
    page: str,
) -> None:
    url = f"{nginx.base_url}/{location}/"
    # Without credentials nginx always challenges: the file is read only after.
    probe = session.get(with_case(url, new_case("probe")))
    case = new_case("nginx-basic")
    response = session.get(with_case(url, case), auth=(HTPASSWD_USER, password))

    assert probe.status_code == 401
    assert response.status_code == status
    server = response.headers["Server"]
    assert response.content == nginx_page(page).replace(
        b"nginx/1.22.1", server.encode()
    )
    flow = wide_mitmdump.flow_for(case)
    assert verdict(flow) == cause
    if cause != "nginx-basic-refused":
        assert finding(flow, cause)["confidence"] == "high", (
            "the probe's challenge is history"
        )
    assert_nothing_leaked(wide_mitmdump, [flow], password)


def test_a_real_nginx_accepts_the_right_password(
    session: requests.Session, nginx: Nginx
) -> None:
    # The control for the three refusals above: the user file itself is right.
    url = with_case(f"{nginx.base_url}/members/", new_case("nginx-ok"))
    assert session.get(url, auth=(HTPASSWD_USER, HTPASSWD_PASSWORD)).status_code == 200


# --- a session over time --------------------------------------------------------------


def test_a_token_revoked_mid_session_stopped_working(
    wide_mitmdump: Mitmdump,
    session: requests.Session,
    refusing_server: RefusingServer,
    tokens: TokenMinter,
) -> None:
    token = tokens.valid()
    headers = {"Authorization": f"Bearer {token}"}
    case = new_case("mid-session")
    url = refusing_server.url("/bearer", case)
    assert [session.get(url, headers=headers).status_code for _ in range(2)] == [
        200,
        200,
    ]
    refusing_server.revoke(token)
    assert session.get(url, headers=headers).status_code == 401

    *accepted, refused = wide_mitmdump.flows_for(case, count=3)
    assert verdict(refused) == "credential-stopped-working"
    found = finding(refused, "credential-stopped-working")
    assert found["confidence"] == "high"
    assert "accepted 2 times" in str(found["evidence"][0])
    assert all("authdiag" not in flow.metadata for flow in accepted)
    assert_nothing_leaked(wide_mitmdump, [refused], token)


def test_a_client_retrying_a_refused_token_in_a_loop_is_a_retry_storm(
    wide_mitmdump: Mitmdump,
    session: requests.Session,
    refusing_server: RefusingServer,
    tokens: TokenMinter,
) -> None:
    token = tokens.wrong_key()
    case = new_case("retry-loop")
    url = refusing_server.url("/bearer", case)
    statuses = [
        session.get(url, headers={"Authorization": f"Bearer {token}"}).status_code
        for _ in range(5)
    ]

    assert statuses == [401] * 5
    flows = wide_mitmdump.flows_for(case, count=5)
    storms = ["retry-storm" in json.dumps(f.metadata["authdiag"]) for f in flows]
    assert storms == [False, False, True, True, True]
    assert verdict(flows[-1]) == "token-rejected", (
        "why it was refused still comes first"
    )
    assert "5 times in" in str(finding(flows[-1], "retry-storm")["summary"])


def test_a_token_sent_in_the_header_and_the_query_is_a_conflict(
    wide_mitmdump: Mitmdump, session: requests.Session, api: ApiApp
) -> None:
    case = new_case("two-ways")
    url = with_case(f"{api.base_url}/orders?access_token={API_TOKEN}", case)
    response = session.get(url, headers={"Authorization": f"Bearer {API_TOKEN}"})

    assert response.status_code == 400
    flow = wide_mitmdump.flow_for(case)
    assert verdict(flow) == "authorization-conflict"
    assert finding(flow, "authorization-conflict")["confidence"] == "high"
    assert_nothing_leaked(wide_mitmdump, [flow], API_TOKEN)


# --- offline replay -------------------------------------------------------------------


def test_replaying_the_saved_flows_offline_rebuilds_the_history(
    mitmdump_factory: MitmdumpFactory,
    redirector: RedirectServer,
    refusing_server: RefusingServer,
    tokens: TokenMinter,
    tmp_path: Path,
) -> None:
    proxy = mitmdump_factory(["--set", f"authdiag_statuses={WIDE_STATUSES}"])
    token = tokens.valid()
    moved, revoked = new_case("replay-moved"), new_case("replay-revoked")
    with client_session(proxy) as session:
        session.get(
            with_case(f"{redirector.base_url}/orders", moved),
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
        url = refusing_server.url("/bearer", revoked)
        session.get(url, headers={"Authorization": f"Bearer {token}"})
        refusing_server.revoke(token)
        session.get(url, headers={"Authorization": f"Bearer {token}"})
    assert proxy.stop() == 0

    replayed = tmp_path / "replayed.flow"
    completed = subprocess.run(
        [
            str(MITMDUMP),
            "-n",
            "-q",
            "-r",
            str(proxy.flows_path),
            "-s",
            str(ADDON_SCRIPT),
            "--set",
            f"authdiag_statuses={WIDE_STATUSES}",
            "--set",
            f"confdir={tmp_path / 'confdir'}",
            "-w",
            str(replayed),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_environment(),
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    with replayed.open("rb") as saved:
        flows = [f for f in FlowReader(saved).stream() if isinstance(f, http.HTTPFlow)]
    by_case: dict[str, list[http.HTTPFlow]] = {}
    for flow in flows:
        by_case.setdefault(case_of(flow) or "", []).append(flow)
    assert verdict(by_case[moved][-1]) == "auth-stripped-on-redirect"
    assert verdict(by_case[revoked][-1]) == "credential-stopped-working"
