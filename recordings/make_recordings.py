"""Make the recordings in this folder: real servers, real mitmdump, real clients.

    uv run python -m recordings.make_recordings               # all of them, here
    uv run python -m recordings.make_recordings jwt-expired   # just some
    uv run python -m recordings.make_recordings --out DIR     # somewhere else

Each scenario starts a fresh `mitmdump -w FILE -s addon/diag.py` (the same
harness the live tests use), drives curl, python-requests or headless Chromium
through it against the refusing HTTPS server of tests/support/servers.py (or the
platform responders, redirects and nginx of tests/support/responders.py and
nginx.py, or the mutual-TLS servers of tests/support/mtls.py), and keeps the file
mitmdump wrote. Certificates and keys are made afresh by trustme on every run
and never saved; the credentials in the recordings are throwaway
test values minted here. `browser.har` is written by Chromium itself (through
Playwright's HAR recorder) and `tour.har` by mitmdump's own `hardump` option.

To add a recording: write a `drive` function and add a Scenario to SCENARIOS;
then run this script for it, which also rewrites README.md and manifest.json.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import shutil
import ssl
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
import trustme
from cryptography.x509.oid import NameOID
from requests.auth import HTTPDigestAuth
from tests.support.mtls import (
    CertificateAuthority,
    ClientPki,
    Issued,
    MutualTlsServer,
    bound_token,
)
from tests.support.nginx import Nginx
from tests.support.proxy import Mitmdump, client_session, run_curl
from tests.support.responders import (
    API_TOKEN,
    ApiApp,
    PageServer,
    RedirectServer,
    VendorResponder,
)
from tests.support.servers import (
    PASSWORD,
    USER,
    ProxyAuthServer,
    RefusingServer,
    TokenMinter,
)
from tests.support.vendors import VENDOR_CASES, VendorCase

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ADDON_SCRIPT = REPO / "addon" / "diag.py"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Chromium still calls Google services now and then; no name but the
    # loopback address resolves, so nothing leaves the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
COMMAND = "uv run python -m recordings.make_recordings"

WRONG_PASSWORD = "wrong:horse-battery"
WRONG_API_KEY = "ak_live_0000000000deadbeef00"
NOT_JSON_JWT = "eyJhbGciOiJIUzI1NiJ9.not-json.sig"
UNDECODABLE_BASIC = "%%%notbase64"
CUSTOM_CREDENTIAL = "abc123def"
STALE_SESSION = "s3ss10n-from-yesterday-0123456789"
HTPASSWD_USER, HTPASSWD_PASSWORD = "alice", "s3cret-horse"


class Services:
    """Servers only some scenarios need: started on first use, stopped with the
    bench (all on 127.0.0.1, or localhost for the redirect's other origin)."""

    def __init__(
        self, ca: trustme.CA, ca_pem: Path, pki: ClientPki, stack: ExitStack
    ) -> None:
        self.ca = ca
        self.ca_pem = ca_pem
        self.pki = pki
        self.stack = stack

    @cached_property
    def vendors(self) -> VendorResponder:
        """Answers ?vendor=NAME as that platform does (tests/support/vendors.py)."""
        return self.stack.enter_context(VendorResponder(self.ca))

    @cached_property
    def api(self) -> ApiApp:
        """An HTTPS resource server that accepts API_TOKEN."""
        return self.stack.enter_context(ApiApp(self.ca))

    @cached_property
    def redirector(self) -> RedirectServer:
        """https://localhost:PORT/... → 302 → the API on 127.0.0.1."""
        target = self.api.base_url
        return self.stack.enter_context(RedirectServer(self.ca, target))

    @cached_property
    def nginx(self) -> Nginx:
        """Debian's nginx in front of a plain-HTTP ApiApp: /pass/ forwards
        Authorization, /strip/ clears it; /members-locked/ wants Basic
        credentials checked against a user file its worker cannot read."""
        backend = self.stack.enter_context(ApiApp())
        # Not under the 0700 scratch folder: nginx's worker may run as nobody.
        workdir = Path(tempfile.mkdtemp(prefix="authdiag-nginx-"))
        self.stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        workdir.chmod(0o755)
        www = workdir / "www"
        www.mkdir()
        (www / "index.html").write_text("members only\n")
        locked = workdir / "locked-users"
        locked.write_text(htpasswd_line(HTPASSWD_USER, HTPASSWD_PASSWORD))
        locked.chmod(0o000)
        server = f"""
            location /strip/ {{
                proxy_set_header Authorization "";
                proxy_pass {backend.base_url}/;
            }}
            location /pass/ {{ proxy_pass {backend.base_url}/; }}
            location /members-locked/ {{
                auth_basic "members";
                auth_basic_user_file {locked};
                alias {www}/;
            }}
        """
        return self.stack.enter_context(Nginx(workdir, server))

    @cached_property
    def resigned(self) -> Issued:
        """A client certificate that names the server's client CA as its issuer
        but was signed with another key, as after that CA was re-keyed."""
        (common_name,) = self.pki.ca.name.get_attributes_for_oid(NameOID.COMMON_NAME)
        old_key = CertificateAuthority(str(common_name.value))
        now = datetime.datetime.now(datetime.UTC)
        return old_key.issue(
            "resigned-client",
            self.pki.folder / "resigned.pem",
            valid_from=now - datetime.timedelta(days=1),
            valid_until=now + datetime.timedelta(days=7),
        )

    def client_certificate(self, name: str) -> Issued:
        """The certificate of ClientPki with this name, or one made here."""
        found = getattr(self.pki, name, None)
        return found if isinstance(found, Issued) else getattr(self, name)


def htpasswd_line(user: str, password: str) -> str:
    """One line of an nginx user file, with the {SHA} scheme it reads."""
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    return f"{user}:{{SHA}}{digest}\n"


@dataclass
class Lab:
    """What a scenario drives: the servers, token minting, and the proxy."""

    server: RefusingServer
    proxy_auth: ProxyAuthServer
    tokens: TokenMinter
    proxy: Mitmdump
    workdir: Path
    more: Services
    mutual_tls_url: str = ""
    """The server that demands a client certificate, for the mTLS scenarios."""

    def session(self) -> requests.Session:
        return client_session(self.proxy)

    def curl(self, *args: str) -> int:
        """Run curl through the proxy; the status it got."""
        result = run_curl(self.proxy, args, self.workdir)
        if result.returncode != 0:
            raise RuntimeError(f"curl {' '.join(args)} failed: {result.stderr}")
        return result.status

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        with self.session() as session:
            return session.get(self.server.url(path), **kwargs)


Drive = Callable[[Lab], None]


@dataclass(frozen=True)
class Scenario:
    """One recording: what the client does, and the verdicts it must produce."""

    name: str
    client: str
    story: str
    verdicts: tuple[str, ...]
    """The verdict of each annotated flow, in order (routine handshakes too)."""
    drive: Drive
    upstream: bool = False
    """mitmdump chains to the proxy that wants credentials (407)."""
    mutual_tls: tuple[ssl.TLSVersion, str | None] | None = None
    """The server demands a client certificate at this TLS version; mitmdump
    presents the named certificate of tests/support/mtls.py's ClientPki (or none)."""
    browser: bool = False
    """Chromium drives it and records a HAR beside the .flow file; mitmdump is
    a reverse proxy in front of the server."""
    in_tour: bool = True
    """Also driven in the tour (only scenarios on the refusing server are)."""
    reverse_to: Callable[[Services], str] | None = None
    """mitmdump is a reverse proxy in front of this server (given its URL)."""
    statuses: str | None = None
    """authdiag_statuses, live and when replayed or reported, for a refusal
    outside the default 401,403,407."""


def expect(status: int, got: int) -> None:
    if got != status:
        raise RuntimeError(f"expected HTTP {status}, got {got}")


# --- the scenarios ------------------------------------------------------------------


def no_credentials(lab: Lab) -> None:
    expect(401, lab.curl(lab.server.url("/bearer")))


def basic_to_bearer(lab: Lab) -> None:
    expect(401, lab.get("/bearer", auth=(USER, PASSWORD)).status_code)


def bearer_bearer(lab: Lab) -> None:
    headers = {"Authorization": f"Bearer Bearer {lab.tokens.valid()}"}
    expect(401, lab.get("/bearer", headers=headers).status_code)


def basic_not_base64(lab: Lab) -> None:
    headers = {"Authorization": f"Basic {UNDECODABLE_BASIC}"}
    expect(401, lab.get("/basic", headers=headers).status_code)


def bearer(token: Callable[[TokenMinter], str]) -> Drive:
    def drive(lab: Lab) -> None:
        headers = {"Authorization": f"Bearer {token(lab.tokens)}"}
        expect(401, lab.get("/bearer", headers=headers).status_code)

    return drive


def write_without_scope(lab: Lab) -> None:
    headers = {"Authorization": f"Bearer {lab.tokens.valid()}"}
    with lab.session() as session:
        response = session.post(lab.server.url("/bearer/write"), headers=headers)
    expect(403, response.status_code)


def wrong_api_key(lab: Lab) -> None:
    expect(401, lab.get("/apikey", headers={"X-API-Key": WRONG_API_KEY}).status_code)


def wrong_password(lab: Lab) -> None:
    expect(401, lab.curl("-u", f"{USER}:{WRONG_PASSWORD}", lab.server.url("/basic")))


def known_user_without_permission(lab: Lab) -> None:
    expect(403, lab.get("/admin", auth=(USER, PASSWORD)).status_code)


def digest_handshake(lab: Lab) -> None:
    status = lab.curl("--digest", "-u", f"{USER}:{PASSWORD}", lab.server.url("/digest"))
    expect(200, status)


def digest_stale_nonce(lab: Lab) -> None:
    with lab.session() as session:
        session.auth = HTTPDigestAuth(USER, PASSWORD)
        expect(200, session.get(lab.server.url("/digest")).status_code)
        lab.server.expire_digest_nonces()
        # requests answers the stale challenge with the same password and gets in.
        expect(200, session.get(lab.server.url("/digest")).status_code)


def session_expired(lab: Lab) -> None:
    jar = lab.workdir / "cookies.txt"
    login = run_curl(
        lab.proxy,
        ["-X", "POST", "-c", str(jar), lab.server.url("/session/login")],
        lab.workdir,
    )
    expect(200, login.status)
    session_id = next(
        line.split("\t")[-1].strip()
        for line in jar.read_text().splitlines()
        if "\tsessionid\t" in line
    )
    lab.server.expire_session(session_id)
    expect(401, lab.curl("-b", str(jar), lab.server.url("/session/account")))


def proxy_wants_credentials(lab: Lab) -> None:
    # Any plain-http URL will do: the upstream proxy refuses before it forwards.
    with lab.session() as session:
        response = session.get(f"{lab.proxy_auth.url}/reports/daily")
    expect(407, response.status_code)


def through_mutual_tls(lab: Lab) -> None:
    # mitmproxy answers 502 when the server refuses its TLS connection.
    expect(502, lab.curl(lab.mutual_tls_url))


def app_without_proxy_ca(lab: Lab) -> None:
    """curl trusts only the servers' CA, not mitmproxy's: it ends the handshake
    with mitmdump with alert unknown_ca, and the CONNECT flow records it."""
    args = ["--cacert", str(lab.more.ca_pem), lab.server.url("/bearer")]
    result = run_curl(lab.proxy, args, lab.workdir)
    if result.returncode != CURL_PEER_UNTRUSTED:
        raise RuntimeError(f"curl trusted mitmproxy's certificate: {result.stderr}")
    wait_for(lambda: any(f.error for f in lab.proxy.flows()), "the CONNECT flow")


CURL_PEER_UNTRUSTED = 60
"""curl's exit status when it cannot verify the server's certificate."""


def wait_for(saved: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """mitmdump saves a flow when it ends, a moment after the client gave up."""
    deadline = time.monotonic() + timeout
    while not saved():
        if time.monotonic() > deadline:
            raise RuntimeError(f"mitmdump did not save {what} in {timeout} s")
        time.sleep(0.05)


def custom_scheme(lab: Lab) -> None:
    headers = {"Authorization": f"Custom {CUSTOM_CREDENTIAL}"}
    expect(401, lab.get("/mystery", headers=headers).status_code)


def platform_request(lab: Lab, vendor: VendorCase) -> None:
    """One platform's refusal, from the local responder that answers as it does."""
    separator = "&" if "?" in vendor.path else "?"
    query = urlencode({"vendor": vendor.name})
    url = f"{lab.more.vendors.base_url}{vendor.path}{separator}{query}"
    headers = dict(vendor.request_headers(time.time()))
    with lab.session() as session:
        response = session.request(
            vendor.method, url, headers=headers, allow_redirects=False
        )
    expect(vendor.status, response.status_code)


PLATFORM_CASES = tuple(c for c in VENDOR_CASES if c.status in (401, 403))
"""Every platform signature authdiag diagnoses with its default statuses."""


def platform_refusals(lab: Lab) -> None:
    for vendor in PLATFORM_CASES:
        platform_request(lab, vendor)


def redirected_to_another_origin(lab: Lab) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    with lab.session() as session:
        response = session.get(
            f"{lab.more.redirector.base_url}/orders", headers=headers
        )
    expect(401, response.status_code)
    expect(302, response.history[0].status_code)


def nginx_clears_authorization(lab: Lab) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    base = lab.more.nginx.base_url
    with lab.session() as session:
        expect(200, session.get(f"{base}/pass/orders", headers=headers).status_code)
        expect(401, session.get(f"{base}/strip/orders", headers=headers).status_code)


def revoked_mid_session(lab: Lab) -> None:
    token = lab.tokens.valid()
    headers = {"Authorization": f"Bearer {token}"}
    url = lab.server.url("/bearer")
    with lab.session() as session:
        for _ in range(2):
            expect(200, session.get(url, headers=headers).status_code)
        lab.server.revoke(token)
        expect(401, session.get(url, headers=headers).status_code)


RETRY_STORM_AT = 3
"""The refusal of the same credential from which the loop itself is named."""


def retry_loop(lab: Lab) -> None:
    """A client resending a refused credential: from the third refusal on, the
    loop itself is the verdict, since nothing else explains the refusal."""
    for _ in range(RETRY_STORM_AT):
        custom_scheme(lab)


CROSSFLOW_DRIVES: tuple[tuple[Drive, tuple[str, ...]], ...] = (
    (redirected_to_another_origin, ("auth-stripped-on-redirect",)),
    (nginx_clears_authorization, ("authorization-not-forwarded",)),
    (revoked_mid_session, ("credential-stopped-working",)),
    (retry_loop, ("unknown", "unknown", "retry-storm")),
)


def crossflow(lab: Lab) -> None:
    for drive, _ in CROSSFLOW_DRIVES:
        drive(lab)


def nginx_cannot_read_its_user_file(lab: Lab) -> None:
    """A browser's way in: no credentials, nginx's challenge, then the password;
    nginx opens its user file only then, fails, and answers 500."""
    url = f"{lab.more.nginx.base_url}/members-locked/"
    with lab.session() as session:
        expect(401, session.get(url).status_code)
        refused = session.get(url, auth=(HTPASSWD_USER, HTPASSWD_PASSWORD))
    expect(500, refused.status_code)


def token_sent_two_ways(lab: Lab) -> None:
    """RFC 6750 §3.1 allows one way of sending the token per request."""
    url = f"{lab.more.api.base_url}/orders?access_token={API_TOKEN}"
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    with lab.session() as session:
        expect(400, session.get(url, headers=headers).status_code)


def bound_to_another_certificate(lab: Lab) -> None:
    """mitmdump presents the `valid` certificate; the token is bound to another."""
    token = bound_token(lab.more.pki.other_valid.thumbprint)
    headers = {"Authorization": f"Bearer {token}"}
    url = lab.mutual_tls_url.rstrip("/") + "/bound"
    with lab.session() as session:
        expect(401, session.get(url, headers=headers, timeout=10).status_code)


FETCH = "async ([url, headers]) => (await fetch(url, {headers})).status"


def browser_session(lab: Lab) -> None:
    """Chromium opens a page, then the page's script calls the API four ways.

    Chromium talks to mitmdump as a reverse proxy in front of the server, so no
    proxy setting (which Chromium ignores for loopback) is involved. A Basic
    challenge would open Chromium's login prompt, so none is provoked here.
    """
    har = lab.workdir / "browser.har"
    calls = [
        ("/bearer", {"Authorization": f"Bearer {lab.tokens.expired()}"}),
        ("/apikey", {"X-API-Key": WRONG_API_KEY}),
        ("/bearer", {}),
    ]
    with chromium_page(har) as page:
        page.goto(f"{lab.proxy.url}/open")
        for path, headers in calls:
            expect(401, page.evaluate(FETCH, [f"{lab.proxy.url}{path}", headers]))
        # A session cookie the server never issued (or long since forgot).
        page.evaluate(f"document.cookie = 'sessionid={STALE_SESSION}; Path=/'")
        expect(401, page.evaluate(FETCH, [f"{lab.proxy.url}/session/account", {}]))


PREFLIGHTED = """<!doctype html><title>app</title><script>
  window.called = (url, token) => fetch(url, {method: "POST", credentials: "include",
    headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    body: "{}"}).then(r => "status " + r.status, e => "failed: " + e.message);
</script>"""


def refused_preflight(lab: Lab) -> None:
    """A page on one origin POSTs JSON with a token to the API on another; the
    API (behind mitmdump as a reverse proxy) answers the preflight with a 401."""
    with PageServer(PREFLIGHTED) as pages, chromium_page(lab.workdir / "x.har") as page:
        page.goto(f"{pages.base_url}/app")
        outcome = page.evaluate(
            "([url, token]) => window.called(url, token)",
            [f"{lab.proxy.url}/orders", API_TOKEN],
        )
    if outcome != "failed: Failed to fetch":
        raise RuntimeError(f"the preflight was not refused: {outcome}")


@contextmanager
def chromium_page(har: Path) -> Iterator[Any]:
    # Imported here: only the browser scenarios need Playwright.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_FLAGS), timeout=30_000
        )
        try:
            context = browser.new_context(
                record_har_path=str(har), record_har_content="embed"
            )
            page = context.new_page()
            page.set_default_timeout(15_000)
            yield page
            context.close()  # writes the HAR
        finally:
            browser.close()


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "proxy-auth-required",
        "python-requests",
        "mitmdump chains to a corporate proxy that answers 407 without credentials",
        ("proxy-auth-required",),
        proxy_wants_credentials,
        upstream=True,
    ),
    Scenario(
        "client-cert-missing",
        "curl",
        "a TLS 1.3 server demands a client certificate and mitmdump has none",
        ("client-cert-missing",),
        through_mutual_tls,
        mutual_tls=(ssl.TLSVersion.TLSv1_3, None),
    ),
    Scenario(
        "client-cert-expired",
        "curl",
        "mitmdump presents an expired client certificate to a TLS 1.2 server",
        ("client-cert-expired",),
        through_mutual_tls,
        mutual_tls=(ssl.TLSVersion.TLSv1_2, "expired"),
    ),
    Scenario(
        "client-cert-not-yet-valid",
        "curl",
        "mitmdump presents a certificate valid only from two days after the "
        "handshake (judged at the handshake's time, so it stays not yet valid)",
        ("client-cert-not-yet-valid",),
        through_mutual_tls,
        mutual_tls=(ssl.TLSVersion.TLSv1_2, "not_yet_valid"),
    ),
    Scenario(
        "challenge-handshake",
        "curl",
        "curl --digest: the first 401 is the handshake (routine), then 200",
        ("challenge-handshake",),
        digest_handshake,
    ),
    Scenario(
        "digest-stale-nonce",
        "python-requests",
        "Digest login, then the server expires its nonces and answers stale=true",
        ("challenge-handshake", "digest-stale-nonce"),
        digest_stale_nonce,
    ),
    Scenario(
        "basic-malformed",
        "python-requests",
        "a Basic credential that is not base64",
        ("basic-malformed",),
        basic_not_base64,
    ),
    Scenario(
        "authorization-malformed",
        "python-requests",
        "'Authorization: Bearer Bearer <token>'",
        ("authorization-malformed",),
        bearer_bearer,
    ),
    Scenario(
        "jwt-unsigned",
        "python-requests",
        "a JWT with alg none",
        ("jwt-unsigned",),
        bearer(TokenMinter.unsigned),
    ),
    Scenario(
        "jwt-malformed",
        "python-requests",
        "a JWT whose payload is not JSON",
        ("jwt-malformed",),
        bearer(lambda _: NOT_JSON_JWT),
    ),
    Scenario(
        "jwt-expired",
        "python-requests",
        "a JWT that expired an hour before the request",
        ("jwt-expired",),
        bearer(TokenMinter.expired),
    ),
    Scenario(
        "jwt-not-yet-valid",
        "python-requests",
        "a JWT whose nbf is an hour after the request",
        ("jwt-not-yet-valid",),
        bearer(TokenMinter.not_yet_valid),
    ),
    Scenario(
        "jwt-audience-mismatch",
        "python-requests",
        "a JWT issued for another API (aud billing-api)",
        ("jwt-audience-mismatch",),
        bearer(TokenMinter.wrong_audience),
    ),
    Scenario(
        "token-insufficient-scope",
        "python-requests",
        "a valid token without the write scope, on a write endpoint (403)",
        ("token-insufficient-scope",),
        write_without_scope,
    ),
    Scenario(
        "token-rejected",
        "python-requests",
        "a JWT signed with another service's key",
        ("token-rejected",),
        bearer(TokenMinter.wrong_key),
    ),
    Scenario(
        "api-key-rejected",
        "python-requests",
        "a wrong X-API-Key, answered as Kong's key-auth does",
        ("api-key-rejected",),
        wrong_api_key,
    ),
    Scenario(
        "credentials-rejected",
        "curl",
        "curl -u with a wrong password",
        ("credentials-rejected",),
        wrong_password,
    ),
    Scenario(
        "scheme-mismatch",
        "python-requests",
        "Basic credentials sent to an endpoint that wants Bearer",
        ("scheme-mismatch",),
        basic_to_bearer,
    ),
    Scenario(
        "session-expired",
        "curl",
        "log in, the server ends the session, the old cookie is refused",
        ("session-expired",),
        session_expired,
    ),
    Scenario(
        "credentials-missing",
        "curl",
        "no credentials at all on a Bearer endpoint",
        ("credentials-missing",),
        no_credentials,
    ),
    Scenario(
        "forbidden",
        "python-requests",
        "the right password for a user without permission (403)",
        ("forbidden",),
        known_user_without_permission,
    ),
    Scenario(
        "unknown",
        "python-requests",
        "a custom scheme refused with no challenge and no body",
        ("unknown",),
        custom_scheme,
    ),
    Scenario(
        "browser",
        "headless Chromium (Playwright)",
        "a page whose script calls the API with an expired JWT, a wrong API key, "
        "nothing, and a stale session cookie",
        ("jwt-expired", "api-key-rejected", "credentials-missing", "session-expired"),
        browser_session,
        browser=True,
    ),
    Scenario(
        "platforms",
        "python-requests",
        "each platform's refusal in turn (nginx, AWS, WordPress, Kubernetes, "
        "GitHub, Google, Azure, Keycloak, Okta, Auth0), answered byte for byte "
        "as tests/support/vendors.py says the platform does",
        tuple(c.cause for c in PLATFORM_CASES),
        platform_refusals,
        in_tour=False,
    ),
    Scenario(
        "crossflow",
        "python-requests",
        "a token lost on a 302 to another origin; nginx clearing Authorization "
        "(after a 200 where it passes it on); a token accepted twice, then "
        "revoked; a custom credential refused three times in a row",
        tuple(v for _, verdicts in CROSSFLOW_DRIVES for v in verdicts),
        crossflow,
        in_tour=False,
    ),
    Scenario(
        "preflight-unauthenticated",
        "headless Chromium (Playwright)",
        "a page's credentialed cross-origin POST: the API refuses the CORS "
        "preflight (OPTIONS, which never carries credentials) with a 401",
        ("preflight-unauthenticated",),
        refused_preflight,
        in_tour=False,
        reverse_to=lambda more: more.api.base_url,
    ),
    Scenario(
        "client-cert-untrusted-ca",
        "curl",
        "mitmdump presents a certificate from a CA the TLS 1.3 server does not trust",
        ("client-cert-untrusted-ca",),
        through_mutual_tls,
        mutual_tls=(ssl.TLSVersion.TLSv1_3, "wrong_ca"),
    ),
    Scenario(
        "client-cert-wrong-usage",
        "curl",
        "mitmdump presents a certificate issued for servers (serverAuth only)",
        ("client-cert-wrong-usage",),
        through_mutual_tls,
        mutual_tls=(ssl.TLSVersion.TLSv1_3, "server_usage"),
    ),
    Scenario(
        "client-cert-revoked",
        "curl",
        "mitmdump presents a certificate the server's CA has revoked",
        ("client-cert-revoked",),
        through_mutual_tls,
        mutual_tls=(ssl.TLSVersion.TLSv1_3, "revoked"),
    ),
    Scenario(
        "cert-bound-token-mismatch",
        "python-requests",
        "a token bound (cnf x5t#S256) to another certificate than the one "
        "mitmdump presents over mutual TLS",
        ("cert-bound-token-mismatch",),
        bound_to_another_certificate,
        mutual_tls=(ssl.TLSVersion.TLSv1_3, "valid"),
    ),
    Scenario(
        "app-rejects-proxy-cert",
        "curl",
        "curl trusts the server's CA but not mitmproxy's, and ends the handshake "
        "with mitmdump with alert unknown_ca (the CONNECT flow carries the verdict)",
        ("app-rejects-proxy-cert",),
        app_without_proxy_ca,
        in_tour=False,
    ),
    Scenario(
        "client-cert-rejected",
        "curl",
        "mitmdump presents a certificate that names the TLS 1.2 server's client CA "
        "as issuer but was signed with another key; the server says only "
        "decrypt_error",
        ("client-cert-rejected",),
        through_mutual_tls,
        mutual_tls=(ssl.TLSVersion.TLSv1_2, "resigned"),
    ),
    Scenario(
        "nginx-htpasswd-unreadable",
        "python-requests",
        "nginx challenges, then answers 500 to the password: its worker cannot read "
        "the auth_basic_user_file",
        ("credentials-missing", "nginx-htpasswd-unreadable"),
        nginx_cannot_read_its_user_file,
        in_tour=False,
        statuses="401,403,407,500",
    ),
    Scenario(
        "authorization-conflict",
        "python-requests",
        "the same token in the Authorization header and in ?access_token=, "
        "answered 400 invalid_request",
        ("authorization-conflict",),
        token_sent_two_ways,
        in_tour=False,
        statuses="400,401,403,407",
    ),
)

UNRECORDED: dict[str, str] = {}
"""Causes with no recording yet, and why; a test keeps this list and the
catalogue in step, so a new cause needs a Scenario or an entry here."""

TOUR = "tour"
"""One recording of every scenario that needs no special proxy, in one mitmdump
session, saved both as .flow (-w) and as HAR (mitmdump's hardump option)."""


def tour_scenarios() -> list[Scenario]:
    return [
        s
        for s in SCENARIOS
        if s.in_tour and not (s.upstream or s.browser or s.mutual_tls)
    ]


def tour_verdicts() -> tuple[str, ...]:
    return tuple(v for scenario in tour_scenarios() for v in scenario.verdicts)


# --- making them --------------------------------------------------------------------


@dataclass
class Bench:
    """The servers every scenario shares, and where files go."""

    ca_pem: Path
    more: Services
    server: RefusingServer
    proxy_auth: ProxyAuthServer
    pki: ClientPki
    mutual_tls: dict[ssl.TLSVersion, MutualTlsServer]
    scratch: Path
    out: Path

    def lab(self, name: str, extra_args: Sequence[str] = ()) -> tuple[Lab, Mitmdump]:
        workdir = self.scratch / name
        proxy = Mitmdump(
            workdir=workdir,
            upstream_ca=self.ca_pem,
            script=ADDON_SCRIPT,
            extra_args=extra_args,
        )
        tokens = TokenMinter(key=self.server.jwt_key)
        lab = Lab(self.server, self.proxy_auth, tokens, proxy, workdir, self.more)
        return lab, proxy

    def record(self, scenario: Scenario) -> list[Path]:
        extra: list[str] = []
        if scenario.upstream:
            extra = ["--mode", f"upstream:{self.proxy_auth.url}"]
        if scenario.browser:
            extra = ["--mode", f"reverse:{self.server.base_url}"]
        if scenario.reverse_to is not None:
            extra = ["--mode", f"reverse:{scenario.reverse_to(self.more)}"]
        if scenario.mutual_tls is not None and scenario.mutual_tls[1] is not None:
            presented = self.more.client_certificate(scenario.mutual_tls[1]).path
            extra = ["--set", f"client_certs={presented}"]
        if scenario.statuses is not None:
            extra += ["--set", f"authdiag_statuses={scenario.statuses}"]
        lab, proxy = self.lab(scenario.name, extra)
        if scenario.mutual_tls is not None:
            lab.mutual_tls_url = self.mutual_tls[scenario.mutual_tls[0]].url("/")
        with proxy:
            scenario.drive(lab)
        made = [self.keep(proxy.flows_path, f"{scenario.name}.flow")]
        if scenario.browser:
            made.append(self.keep(lab.workdir / "browser.har", f"{scenario.name}.har"))
        return made

    def record_tour(self) -> list[Path]:
        har = self.scratch / "tour.har"
        lab, proxy = self.lab(TOUR, ["--set", f"hardump={har}"])
        with proxy:
            for scenario in tour_scenarios():
                scenario.drive(lab)
        # mitmdump writes the HAR when it shuts down, so only after `with`.
        return [self.keep(proxy.flows_path, "tour.flow"), self.keep(har, "tour.har")]

    def keep(self, made: Path, name: str) -> Path:
        if not made.exists() or made.stat().st_size == 0:
            raise RuntimeError(f"{name}: nothing was recorded in {made}")
        target = self.out / name
        shutil.copyfile(made, target)
        return target


@contextmanager
def bench(out: Path) -> Iterator[Bench]:
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        ca = trustme.CA()
        ca_pem = scratch / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_pem))
        server = stack.enter_context(RefusingServer(ca))
        proxy_auth = stack.enter_context(ProxyAuthServer())
        pki = ClientPki(scratch / "pki")
        mutual_tls = {
            version: stack.enter_context(MutualTlsServer(ca, pki, version=version))
            for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
        }
        more = Services(ca, ca_pem, pki, stack)
        yield Bench(ca_pem, more, server, proxy_auth, pki, mutual_tls, scratch, out)


def make(names: Sequence[str], out: Path) -> list[Path]:
    """Record the named scenarios (all, if none is named) into `out`."""
    known = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names if n not in known and n != TOUR]
    if unknown:
        raise SystemExit(f"unknown recording(s): {', '.join(unknown)}")
    chosen = names or [*known, TOUR]
    out.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    with bench(out) as workbench:
        for name in chosen:
            print(f"recording {name}", file=sys.stderr)
            if name == TOUR:
                made += workbench.record_tour()
            else:
                made += workbench.record(known[name])
    return made


# --- what each file is --------------------------------------------------------------


def manifest() -> list[dict[str, Any]]:
    """Every recording with the verdicts it must produce (read by the tests), and
    the authdiag_statuses it is diagnosed with when not the default."""
    entries: list[dict[str, Any]] = []
    for scenario in SCENARIOS:
        formats = ["flow", "har"] if scenario.browser else ["flow"]
        for kind in formats:
            entry = {
                "file": f"{scenario.name}.{kind}",
                "client": scenario.client,
                "story": scenario.story,
                "verdicts": list(scenario.verdicts),
                "command": f"{COMMAND} {scenario.name}",
            }
            if scenario.statuses is not None:
                entry["statuses"] = scenario.statuses
            entries.append(entry)
    for kind in ("flow", "har"):
        entries.append(
            {
                "file": f"{TOUR}.{kind}",
                "client": "curl and python-requests",
                "story": "every scenario above in which the refusing server "
                "answers (not the 407, mutual-TLS, browser, platform and cross-flow "
                "ones), in one mitmdump session",
                "verdicts": list(tour_verdicts()),
                "command": f"{COMMAND} {TOUR}",
            }
        )
    return entries


README_HEAD = f"""\
# Recordings

Real captures of refused requests, one or more per cause authdiag knows, made by
[`make_recordings.py`](make_recordings.py): it starts the test suite's refusing
HTTPS servers on 127.0.0.1 (`tests/support/servers.py`, the servers of
`tests/support/mtls.py` that demand a client certificate, the responders of
`tests/support/responders.py` that answer as each platform does, and Debian's
nginx of `tests/support/nginx.py`), runs `mitmdump -w FILE -s addon/diag.py`, and
drives curl, python-requests or headless Chromium through it. `platforms.flow`
holds one refusal per platform signature and `crossflow.flow` the causes that
need earlier exchanges, in the order of their verdicts below. The
client-certificate recordings carry the TLS facts the live addon saved, and
certificates are judged at the time of that handshake.
Certificates and keys are made afresh on every run and never saved; the
credentials inside are throwaway test values minted by the script (authdiag's own
output only ever shows their fingerprints).

Replay one through mitmproxy, or report on all of them:

```sh
uv run mitmdump -nr recordings/tour.flow -s addon/diag.py
uv run authdiag report recordings/*.flow recordings/*.har
```

A recording diagnosed only with `authdiag_statuses` wider than the default
401,403,407 names them in its row; give the replay and the report the same:

```sh
uv run mitmdump -nr recordings/authorization-conflict.flow -s addon/diag.py \\
    --set authdiag_statuses=400,401,403,407
uv run authdiag report --statuses 400,401,403,407 recordings/authorization-conflict.flow
```

Verdicts stay the same forever: tokens and cookies are judged at the time each
request was sent, never at the time of the replay. `tour.har` comes from
mitmdump's `hardump` option and `browser.har` from Chromium itself (Playwright's
HAR recorder); a HAR has no TLS details, which the report says.

Regenerate everything with `{COMMAND}` (about two minutes; Chromium from Debian
and Playwright for Python are needed for the browser recordings, Debian's nginx
for `crossflow.flow` and `nginx-htpasswd-unreadable.flow`), or one recording with
the command in its row. This file and `manifest.json` are rewritten by the script.

| file | client | what happens | verdicts | made by |
|---|---|---|---|---|
"""


def readme() -> str:
    gaps = [f"- `{cause}`: {reason}" for cause, reason in sorted(UNRECORDED.items())]
    rows = [
        f"| `{e['file']}` | {e['client']} | {e['story']}{statuses_note(e)} | "
        f"{', '.join(f'`{v}`' for v in e['verdicts'])} | `{e['command']}` |"
        for e in manifest()
    ]
    return (
        README_HEAD
        + "\n".join(rows)
        + "\n\n## Causes without a recording yet\n\n"
        + ("\n".join(gaps) or "None: every cause in the catalogue has one.")
        + "\n"
    )


def statuses_note(entry: dict[str, Any]) -> str:
    statuses = entry.get("statuses")
    if statuses is None:
        return ""
    return (
        f" (diagnosed with `--set authdiag_statuses={statuses}`; "
        f"report: `--statuses {statuses}`)"
    )


def write_index(out: Path) -> None:
    (out / "manifest.json").write_text(json.dumps(manifest(), indent=2) + "\n")
    (out / "README.md").write_text(readme())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="recordings to make (default: all)")
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write to")
    args = parser.parse_args(argv)
    for path in make(args.names, args.out):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)", file=sys.stderr)
    write_index(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
