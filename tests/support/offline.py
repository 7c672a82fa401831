"""Run the offline paths for real: `authdiag report` and `mitmdump -nr` as
subprocesses of this venv, over the bundled recordings or files a test makes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mitmproxy import http
from mitmproxy.io import FlowReader
from tests.support.proxy import clean_environment

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO / "recordings"
ADDON_SCRIPT = REPO / "addon" / "diag.py"
AUTHDIAG = Path(sys.executable).with_name("authdiag")
MITMDUMP = Path(sys.executable).with_name("mitmdump")

CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "cookie")


@dataclass(frozen=True)
class Recording:
    """One entry of recordings/manifest.json."""

    file: str
    verdicts: tuple[str, ...]
    command: str
    statuses: str | None = None
    """authdiag_statuses it is diagnosed with, when not the default."""

    @property
    def path(self) -> Path:
        return RECORDINGS / self.file

    @property
    def replay_options(self) -> tuple[str, ...]:
        """What `mitmdump -nr` needs to reach the recording's verdicts."""
        if self.statuses is None:
            return ()
        return ("--set", f"authdiag_statuses={self.statuses}")

    @property
    def report_options(self) -> tuple[str, ...]:
        """What `authdiag report` needs to reach the recording's verdicts."""
        return () if self.statuses is None else ("--statuses", self.statuses)


def manifest() -> list[Recording]:
    entries = json.loads((RECORDINGS / "manifest.json").read_text())
    return [
        Recording(e["file"], tuple(e["verdicts"]), e["command"], e.get("statuses"))
        for e in entries
    ]


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.stdout)
        return document


def run(command: Sequence[str | Path], *, timeout: float = 120, **extra: Any) -> Run:
    completed = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_environment(),
        cwd=REPO,
        check=False,
        **extra,
    )
    return Run(completed.returncode, completed.stdout, completed.stderr)


def report(*args: str | Path, timeout: float = 120) -> Run:
    """`authdiag report ARGS` through the venv's console script."""
    return run([AUTHDIAG, "report", *args], timeout=timeout)


def report_as_recorded(paths: Iterable[Path], *args: str | Path) -> list[Run]:
    """`authdiag report ARGS` over recordings (found in the manifest by file name),
    once for each authdiag_statuses they need."""
    recorded = {recording.file: recording for recording in manifest()}
    groups: dict[tuple[str, ...], list[Path]] = {}
    for path in paths:
        groups.setdefault(recorded[path.name].report_options, []).append(path)
    return [report(*args, *options, *files) for options, files in groups.items()]


def replay(path: Path, *extra: str | Path) -> list[str]:
    """`mitmdump -nr PATH -s addon/diag.py`: mitmproxy's log lines."""
    result = run([MITMDUMP, "-n", "-r", path, "-s", ADDON_SCRIPT, *extra])
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if line.startswith("[")]


def flows_in(path: Path) -> list[http.HTTPFlow]:
    with path.open("rb") as file:
        return [f for f in FlowReader(file).stream() if isinstance(f, http.HTTPFlow)]


def credentials_sent(flows: Iterable[http.HTTPFlow]) -> set[str]:
    """Every credential value the recorded requests carried: whole header values,
    the part after the scheme, and each cookie value."""
    found: set[str] = set()
    for flow in flows:
        for name in CREDENTIAL_HEADERS:
            for value in flow.request.headers.get_all(name):
                found.add(value)
                found.add(value.split(" ", 1)[-1])
        found.update(value for _, value in flow.request.cookies.items(multi=True))
    return {value for value in found if len(value) >= 8}
