"""Run the addon in a real ``mitmdump`` and read back what it saved.

``Mitmdump`` starts the ``mitmdump`` of this venv as a subprocess on a free loopback
port, with its own confdir (so its own CA), trusting the test CA upstream, saving
every flow with ``-w``. Flows are matched to requests by a ``case`` query
parameter that each test puts in its URL (``new_case`` makes a unique one).
"""

from __future__ import annotations

import atexit
import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from mitmproxy import http
from mitmproxy.exceptions import FlowReadException
from mitmproxy.io import FlowReader
from tests.support.started import Started

HOST = "127.0.0.1"
MITMDUMP = Path(sys.executable).with_name("mitmdump")
CURL = Path("/usr/bin/curl")
STARTUP_GRACE = 0.3
"""Seconds mitmdump must stay up after it listens before it counts as started."""

# Proxy variables in the environment would send the clients elsewhere, or (no_proxy
# naming 127.0.0.1) straight to the server past mitmdump.
_PROXY_VARIABLES = frozenset(
    {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy"}
)


def clean_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARIABLES}
    env.update(extra)
    return env


def free_port() -> int:
    """A port that was free a moment ago (the caller retries if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def new_case(name: str) -> str:
    """A marker unique to one scenario run, e.g. ``jwt-expired-3f9c0a1b2c4d``."""
    return f"{name}-{uuid.uuid4().hex[:12]}"


def with_case(url: str, case: str) -> str:
    """``url`` with ``case=<case>`` appended to its query."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode({"case": case})) if q)
    return urlunsplit(parts._replace(query=query))


def case_of(flow: http.HTTPFlow) -> str | None:
    return flow.request.query.get("case")


class MitmdumpError(RuntimeError):
    """mitmdump did not start, or did not save what was expected."""


class Mitmdump(Started):
    """One mitmdump subprocess and the files it writes under ``workdir``.

    ``script`` is the addon to load (None runs mitmdump without one, which the
    harness's own tests use); ``extra_args`` go last, e.g.
    ``["--mode", "upstream:http://127.0.0.1:PORT"]`` or ``["--set", "x=y"]``.
    Startup waits for mitmproxy's INFO line "listening at ...", so leave
    ``termlog_verbosity`` at info or below.
    """

    def __init__(
        self,
        *,
        workdir: Path,
        upstream_ca: Path,
        script: Path | None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 20.0,
    ) -> None:
        self.workdir = workdir
        self.upstream_ca = upstream_ca
        self.script = script
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.confdir = workdir / "confdir"
        self.flows_path = workdir / "flows.mitm"
        self.log_path = workdir / "mitmdump.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    # --- lifecycle ----------------------------------------------------------------

    def command(self) -> list[str]:
        command = [
            str(MITMDUMP),
            "--listen-host",
            HOST,
            "-p",
            str(self.port),
            "--set",
            f"confdir={self.confdir}",
            "--set",
            f"ssl_verify_upstream_trusted_ca={self.upstream_ca}",
            "-w",
            str(self.flows_path),
        ]
        if self.script is not None:
            command += ["-s", str(self.script)]
        return command + list(self.extra_args)

    def start(self) -> Self:
        if self._process is not None:
            raise MitmdumpError("mitmdump is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        # The port is picked before mitmdump binds it; another process can take it
        # in between, so a bind failure is retried on a new port.
        for _attempt in range(3):
            self.port = free_port()
            self._spawn()
            try:
                self._wait_until_listening()
            except MitmdumpError:
                self.stop()
                if "address already in use" not in self.log().lower():
                    raise
                continue
            atexit.register(self.stop)  # a crashed session must not leave it running
            return self
        raise MitmdumpError(f"no free port for mitmdump:\n{self.log()}")

    def _spawn(self) -> None:
        with self.log_path.open("wb") as log:
            # Unbuffered so that each log line is in the file when the flow is.
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=clean_environment(PYTHONUNBUFFERED="1"),
            )

    def _wait_until_listening(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        announced = f"listening at {HOST}:{self.port}"
        while time.monotonic() < deadline:
            self._fail_if_exited("during startup")
            # The log line proves that this mitmdump (not some other process that
            # grabbed the port) is the one listening.
            if announced in self.log() and self._accepts_connections():
                break
            time.sleep(0.05)
        else:
            raise MitmdumpError(
                f"mitmdump did not listen on {HOST}:{self.port} within "
                f"{self.startup_timeout} s:\n{self.log()}"
            )
        # mitmdump listens before it checks for errors logged during startup (an
        # addon that failed to load, say) and only then exits: give it that moment,
        # so that a broken addon fails here rather than as resets in every test.
        grace_end = time.monotonic() + STARTUP_GRACE
        while time.monotonic() < grace_end:
            self._fail_if_exited("right after it started listening")
            time.sleep(0.02)
        if "error in script" in self.log():
            raise MitmdumpError(f"the addon script failed to load:\n{self.log()}")

    def _fail_if_exited(self, when: str) -> None:
        assert self._process is not None
        if self._process.poll() is not None:
            raise MitmdumpError(
                f"mitmdump exited with {self._process.returncode} {when}:"
                f"\n$ {' '.join(self.command())}\n{self.log()}"
            )

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def ensure_running(self) -> None:
        """Raise with the captured output if mitmdump has died since it started
        (e.g. an addon error at startup): clearer than the resets clients see."""
        if self._process is None:
            raise MitmdumpError("mitmdump was never started or was stopped")
        if self._process.poll() is not None:
            raise MitmdumpError(
                f"mitmdump exited with {self._process.returncode}:\n{self.log()}"
            )

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop with SIGINT (a clean shutdown that closes the flow file), kill if it
        hangs. Returns the exit status, None if it was never started."""
        process, self._process = self._process, None
        if process is None:
            return None
        atexit.unregister(self.stop)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    # --- what clients need --------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy URL for clients: ``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"

    @property
    def ca_cert(self) -> Path:
        """mitmproxy's CA, created in confdir at startup: the clients' trust root."""
        return self.confdir / "mitmproxy-ca-cert.pem"

    # --- what it wrote ------------------------------------------------------------

    def log(self, since: int = 0) -> str:
        """Captured stdout and stderr, from byte offset ``since``."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(since)
                return log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_mark(self) -> int:
        """The current end of the log, to pass as ``since`` later."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def wait_for_log(self, text: str, since: int = 0, timeout: float = 5.0) -> str:
        """The log from ``since`` once it contains ``text``; raises if it never does."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log(since)
            if text in log or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        if text not in log:
            raise MitmdumpError(f"{text!r} not logged within {timeout} s:\n{log}")
        return log

    def log_records(self, since: int = 0) -> list[str]:
        """mitmproxy's own log lines (each starts with its time, ``[12:34:56.789]``)
        from ``since``: the dumper's echo of each request and response is left out,
        so a URL it prints cannot pass for something an addon logged."""
        return [line for line in self.log(since).splitlines() if line.startswith("[")]

    def wait_for_record(self, text: str, since: int = 0, timeout: float = 5.0) -> str:
        """The first log record from ``since`` that contains ``text``."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.log_records(since) if text in line]
            if found:
                return found[0]
            if time.monotonic() >= deadline:
                raise MitmdumpError(
                    f"no log record with {text!r} within {timeout} s:\n"
                    f"{self.log(since)}"
                )
            time.sleep(0.02)

    def flows(self, *, strict: bool = False) -> list[http.HTTPFlow]:
        """Every HTTP flow saved so far.

        The save addon flushes after each flow, so the file can be read while
        mitmdump runs; a last record still being written is left out unless
        ``strict``, where any unreadable byte raises.
        """
        try:
            data = self.flows_path.read_bytes()
        except FileNotFoundError:
            return []
        flows: list[http.HTTPFlow] = []
        try:
            for flow in FlowReader(io.BytesIO(data)).stream():
                if isinstance(flow, http.HTTPFlow):
                    flows.append(flow)
        except FlowReadException:
            if strict:
                raise
        return flows

    def flows_for(
        self, case: str, count: int = 1, timeout: float = 5.0
    ) -> list[http.HTTPFlow]:
        """The flows whose URL carries ``case=<case>``, in order, once there are at
        least ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [flow for flow in self.flows() if case_of(flow) == case]
            if len(found) >= count or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        if len(found) < count:
            state = "running" if self.running else "not running"
            raise MitmdumpError(
                f"expected {count} flow(s) for case {case!r}, found {len(found)}; "
                f"mitmdump is {state}; its log:\n{self.log()}"
            )
        return found

    def flow_for(self, case: str, timeout: float = 5.0) -> http.HTTPFlow:
        """The one flow of a single-request case."""
        found = self.flows_for(case, 1, timeout)
        if len(found) != 1:
            raise MitmdumpError(f"case {case!r} has {len(found)} flows, expected 1")
        return found[0]


# --- clients ------------------------------------------------------------------------


def client_session(proxy: Mitmdump) -> requests.Session:
    """A requests session that goes through ``proxy`` and trusts its CA only."""
    session = requests.Session()
    session.trust_env = False  # no proxy variables, no netrc, no REQUESTS_CA_BUNDLE
    session.proxies = {"http": proxy.url, "https": proxy.url}
    session.verify = str(proxy.ca_cert)
    return session


@dataclass(frozen=True)
class CurlResult:
    returncode: int
    status: int
    """The last response's status (curl's %{http_code}); 0 if none came."""
    headers: str
    """Every response header block curl received, in order (-D)."""
    body: bytes
    stderr: str


MitmdumpFactory = Callable[..., Mitmdump]
"""The ``mitmdump_factory`` fixture: ``factory(extra_args=(), script=...)``."""
Curl = Callable[..., CurlResult]
"""The ``curl`` fixture: ``curl(*args)``."""


def run_curl(
    proxy: Mitmdump, args: Sequence[str], workdir: Path, timeout: float = 30.0
) -> CurlResult:
    """Run ``curl -sS -x <proxy> --cacert <mitmproxy CA> ARGS``."""
    token = uuid.uuid4().hex[:8]
    body_path = workdir / f"curl-{token}.body"
    headers_path = workdir / f"curl-{token}.headers"
    command = [
        str(CURL),
        "-sS",
        "--max-time",
        str(int(timeout)),
        "-x",
        proxy.url,
        "--cacert",
        str(proxy.ca_cert),
        "-o",
        str(body_path),
        "-D",
        str(headers_path),
        "-w",
        "%{http_code}",
        *args,
    ]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout + 5,
        env=clean_environment(),
        check=False,
    )
    return CurlResult(
        returncode=completed.returncode,
        status=int(completed.stdout.strip() or 0),
        headers=headers_path.read_text("latin-1") if headers_path.exists() else "",
        body=body_path.read_bytes() if body_path.exists() else b"",
        stderr=completed.stderr,
    )
