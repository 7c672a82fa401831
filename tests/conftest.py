"""Fixtures for the live tests: real servers, a real mitmdump, real clients.

Session-scoped: ``trust_ca`` (the trustme CA behind the servers), ``refusing_server``,
``proxy_auth_server``, ``tokens``, ``mitmdump`` (one proxy with the addon for the
whole session), ``upstream_mitmdump`` (a second one chained to the 407 proxy,
started only if a test asks for it) and ``mitmdump_factory`` for tests that need a
proxy of their own. Per test: ``proxied_session`` (requests) and ``curl``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import requests
import trustme
from tests.support.proxy import (
    Curl,
    CurlResult,
    Mitmdump,
    MitmdumpFactory,
    client_session,
    run_curl,
)
from tests.support.servers import ProxyAuthServer, RefusingServer, TokenMinter

REPO = Path(__file__).resolve().parents[1]
ADDON_SCRIPT = REPO / "addon" / "diag.py"


@pytest.fixture(scope="session")
def trust_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def trust_ca_pem(
    trust_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The CA certificate as a file, for mitmdump's ssl_verify_upstream_trusted_ca."""
    path = tmp_path_factory.mktemp("trust") / "ca.pem"
    trust_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def refusing_server(trust_ca: trustme.CA) -> Iterator[RefusingServer]:
    with RefusingServer(trust_ca) as server:
        yield server


@pytest.fixture(scope="session")
def proxy_auth_server() -> Iterator[ProxyAuthServer]:
    with ProxyAuthServer() as server:
        yield server


@pytest.fixture(scope="session")
def tokens(refusing_server: RefusingServer) -> TokenMinter:
    return TokenMinter(key=refusing_server.jwt_key)


@pytest.fixture(scope="session")
def mitmdump_factory(
    trust_ca_pem: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MitmdumpFactory]:
    """``factory(extra_args=(), script=ADDON_SCRIPT)`` starts a mitmdump; every one
    started is stopped at the end of the session at the latest."""
    started: list[Mitmdump] = []

    def factory(
        extra_args: Sequence[str] = (), script: Path | None = ADDON_SCRIPT
    ) -> Mitmdump:
        proxy = Mitmdump(
            workdir=tmp_path_factory.mktemp("mitmdump"),
            upstream_ca=trust_ca_pem,
            script=script,
            extra_args=extra_args,
        )
        started.append(proxy)
        return proxy.start()

    yield factory
    for proxy in started:
        proxy.stop()


@pytest.fixture(scope="session")
def mitmdump(
    mitmdump_factory: MitmdumpFactory, refusing_server: RefusingServer
) -> Mitmdump:
    # Depending on refusing_server makes pytest stop this proxy before the server.
    return mitmdump_factory()


@pytest.fixture(scope="session")
def upstream_mitmdump(
    mitmdump_factory: MitmdumpFactory, proxy_auth_server: ProxyAuthServer
) -> Mitmdump:
    """mitmdump with the addon, forwarding everything to the proxy that wants 407."""
    return mitmdump_factory(["--mode", f"upstream:{proxy_auth_server.url}"])


WIDE_STATUSES = "400,401,403,407,500"
LOOPBACK_ONLY = r"/!~d ^(127\.0\.0\.1|localhost)$/404"
"""A block_list entry: mitmproxy answers 404 itself for any host but loopback, so a
browser's background requests never leave the machine."""


@pytest.fixture(scope="session")
def wide_mitmdump(
    mitmdump_factory: MitmdumpFactory, refusing_server: RefusingServer
) -> Mitmdump:
    """mitmdump with the addon diagnosing 400 and 500 too, connecting upstream only
    when a request needs it, and never to anything but loopback (for browsers)."""
    return mitmdump_factory(
        [
            *("--set", f"authdiag_statuses={WIDE_STATUSES}"),
            *("--set", "connection_strategy=lazy"),
            *("--set", f"block_list={LOOPBACK_ONLY}"),
        ]
    )


@pytest.fixture
def proxied_session(mitmdump: Mitmdump) -> Iterator[requests.Session]:
    """A requests session through the session's mitmdump, trusting its CA."""
    mitmdump.ensure_running()
    with client_session(mitmdump) as session:
        yield session


@pytest.fixture
def curl(mitmdump: Mitmdump, tmp_path: Path) -> Curl:
    """``curl(*args)`` runs ``curl -sS -x <mitmdump> --cacert <its CA> *args``."""

    mitmdump.ensure_running()

    def run(*args: str) -> CurlResult:
        return run_curl(mitmdump, args, tmp_path)

    return run
