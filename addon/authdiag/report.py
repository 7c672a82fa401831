"""The offline report: replay captures through the addon and collect its verdicts.

There is one implementation of the diagnosis. Each flow read from a capture goes
through the live addon's own hooks, in the order `mitmdump -nr` fires them, and
the report reads back the annotation the addon wrote. A flow is always diagnosed
afresh, so an old recording gets today's rules; an annotation saved with it is
not trusted, but the TLS observations the live addon saved in it
(flow.metadata["authdiag"]["observed"]["tls"]) stay where the addon reads them.

Captures are streamed and each refusal is handed to the renderer as soon as it
is found; only the per-host summary (bounded) is kept until the end.
"""

from __future__ import annotations

import fnmatch
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import IO, Any, Protocol

from mitmproxy import http

from authdiag.addon import AuthDiag
from authdiag.captures import (
    Capture,
    CaptureDamaged,
    CaptureKind,
    CaptureUnreadable,
    open_capture,
)
from authdiag.catalogue import find_cause
from authdiag.evidence import shown_url
from authdiag.findings import METADATA_KEY
from authdiag.summary import Summary, host_of
from authdiag.tlswatch import stored_observation


class ExitStatus(IntEnum):
    """What `authdiag report` exits with, for CI."""

    NO_REFUSALS = 0
    """Every capture was read whole and the report lists no refusal."""
    REFUSALS = 1
    """Every capture was read whole and the report lists at least one refusal."""
    UNREADABLE = 2
    """A capture is missing, not a capture, or damaged (or the command line is
    wrong); whatever could be read is still reported."""


class TlsFacts(IntEnum):
    """How much a capture tells about the TLS handshakes behind its refusals."""

    NOT_IN_FORMAT = 0
    """A HAR: it has no TLS details at all."""
    ABSENT = 1
    """A .flow file whose refusals carry no TLS observations of authdiag's."""
    RECORDED = 2
    """Some refusals carry the TLS observations the live addon saved."""


@dataclass(frozen=True)
class Filters:
    """Which refusals the report lists."""

    hosts: tuple[str, ...] = ()
    """Glob patterns matched against the host, and host:port (case-insensitive)."""
    causes: tuple[str, ...] = ()
    """Verdict causes to list; routine handshakes are listed only when named."""

    def admit(self, host: str, cause: str) -> bool:
        if self.causes:
            if cause not in self.causes:
                return False
        else:
            known = find_cause(cause)
            if known is not None and known.routine:
                return False
        return not self.hosts or any(_host_matches(host, p) for p in self.hosts)


def _host_matches(host: str, pattern: str) -> bool:
    host, pattern = host.lower(), pattern.lower()
    bare = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return fnmatch.fnmatchcase(host, pattern) or fnmatch.fnmatchcase(bare, pattern)


@dataclass(frozen=True)
class Refusal:
    """One diagnosed refusal, as the report lists it."""

    capture: str
    index: int
    """The flow's position in its capture, from 1 (in a HAR, its entry number)."""
    unit: str
    """What the capture calls its items: 'flow', or 'entry' in a HAR."""
    time: float
    method: str
    url: str
    """Redacted: query values that are credentials are shown as '…'."""
    host: str
    status: int | None
    annotation: dict[str, Any]
    """Exactly what the addon wrote to flow.metadata["authdiag"]."""

    @property
    def findings(self) -> list[dict[str, Any]]:
        findings: list[dict[str, Any]] = self.annotation["findings"]
        return findings

    @property
    def cause(self) -> str:
        return str(self.findings[0]["cause"])

    def to_json(self) -> dict[str, Any]:
        return {
            "capture": self.capture,
            "index": self.index,
            "time": self.time,
            "method": self.method,
            "url": self.url,
            "host": self.host,
            "status": self.status,
            "annotation": self.annotation,
        }


@dataclass
class CaptureResult:
    """What reading one capture gave."""

    path: str
    kind: CaptureKind | None = None
    flows_read: int = 0
    refusals: int = 0
    """Refusals listed in the report (after filters)."""
    tls_observed: int = 0
    """Listed refusals whose flow carries TLS observations from the live addon."""
    problem: str | None = None
    """Why the capture could not be read, or where it is damaged."""
    damage_position: int | None = None
    skipped: list[str] = field(default_factory=list)
    skipped_count: int = 0

    @property
    def unit(self) -> str:
        return "entry" if self.kind is CaptureKind.HAR else "flow"

    @property
    def complete(self) -> bool:
        return self.problem is None and self.skipped_count == 0

    @property
    def tls(self) -> TlsFacts:
        if self.kind is CaptureKind.HAR:
            return TlsFacts.NOT_IN_FORMAT
        return TlsFacts.RECORDED if self.tls_observed else TlsFacts.ABSENT

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.kind.value if self.kind else None,
            "flows_read": self.flows_read,
            "refusals": self.refusals,
            "complete": self.complete,
            "problem": self.problem,
            "damage_position": self.damage_position,
            "skipped_entries": self.skipped_count,
            "skipped": self.skipped,
            "tls": self.tls.name.lower().replace("_", "-"),
        }


@dataclass
class Outcome:
    """Everything the report ends with."""

    captures: list[CaptureResult]
    summary: Summary
    status: ExitStatus


class Renderer(Protocol):
    def refusal(self, refusal: Refusal) -> None: ...

    def finish(self, outcome: Outcome) -> None: ...


class Replayer:
    """Feeds flows to a private AuthDiag as `mitmdump -nr` does."""

    def __init__(self, *, statuses: frozenset[int] | None, leeway: float) -> None:
        self.addon = AuthDiag()
        if statuses is not None:
            self.addon.statuses = statuses
        self.addon.leeway = leeway
        self.addon.marker = ""

    def replay(self, recorded: http.HTTPFlow) -> dict[str, Any] | None:
        """The annotation the addon writes for this flow now (None: no refusal)."""
        before = recorded.metadata.get(METADATA_KEY)
        # The hooks AuthDiag has, in the order mitmproxy's eventsequence fires
        # them for a recorded HTTP flow (a test holds the two together). Called
        # directly: building mitmproxy's hook objects cost more than the
        # history's work for an ordinary success.
        if recorded.request:
            self.addon.request(recorded)
        if recorded.response:
            self.addon.response(recorded)
        if recorded.error and not recorded.websocket:
            self.addon.error(recorded)
        after = recorded.metadata.get(METADATA_KEY)
        # The addon writes a new dict each time it annotates; one saved with the
        # recording and left alone is not today's verdict.
        if after is None or after is before:
            return None
        annotation: dict[str, Any] = after
        return annotation


class Progress:
    """A one-line progress indication on a terminal; silent anywhere else."""

    INTERVAL = 0.2

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream if stream is not None and stream.isatty() else None
        self._shown_at = 0.0

    def update(self, capture: Capture) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if now - self._shown_at < self.INTERVAL:
            return
        self._shown_at = now
        share = capture.position / capture.size if capture.size else 1.0
        line = f"authdiag: {capture.path.name}: {share:4.0%}, {capture.flows_read:,}"
        self.stream.write(f"\r{line} flows\x1b[K")
        self.stream.flush()

    def clear(self) -> None:
        if self.stream is not None and self._shown_at:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown_at = 0.0


@dataclass
class Report:
    """Read captures, replay their flows, and hand each listed refusal on."""

    renderer: Renderer
    filters: Filters = field(default_factory=Filters)
    statuses: frozenset[int] | None = None
    leeway: float = 0.0
    progress: Progress = field(default_factory=lambda: Progress(sys.stderr))

    def run(self, paths: Sequence[Path]) -> Outcome:
        summary = Summary()
        results = [self._read(path, summary) for path in paths]
        outcome = Outcome(results, summary, _exit_status(results))
        self.renderer.finish(outcome)
        return outcome

    def _read(self, path: Path, summary: Summary) -> CaptureResult:
        result = CaptureResult(path=str(path))
        # A fresh addon per capture: its cross-flow history must not link flows
        # of two different captures.
        replayer = Replayer(statuses=self.statuses, leeway=self.leeway)
        try:
            with open_capture(path) as capture:
                result.kind = capture.kind
                try:
                    self._replay_all(capture, replayer, summary, result)
                finally:
                    self.progress.clear()
                    result.flows_read = capture.flows_read
                    result.skipped = list(capture.skipped)
                    result.skipped_count = capture.skipped_count
        except CaptureUnreadable as error:
            result.problem = str(error)
        except CaptureDamaged as error:
            result.problem = f"{path}: {error}"
            result.damage_position = error.position
        return result

    def _replay_all(
        self,
        capture: Capture,
        replayer: Replayer,
        summary: Summary,
        result: CaptureResult,
    ) -> None:
        for index, recorded in capture.flows():
            self.progress.update(capture)
            if not isinstance(recorded, http.HTTPFlow):
                continue
            had_tls = stored_observation(recorded) is not None
            annotation = replayer.replay(recorded)
            if annotation is None or not annotation.get("findings"):
                continue
            refusal = _refusal(capture, index, recorded, annotation)
            if not self.filters.admit(refusal.host, refusal.cause):
                continue
            result.refusals += 1
            result.tls_observed += had_tls
            summary.add(refusal.host, refusal.cause, refusal.time)
            self.renderer.refusal(refusal)


def _refusal(
    capture: Capture, index: int, recorded: http.HTTPFlow, annotation: dict[str, Any]
) -> Refusal:
    request = recorded.request
    return Refusal(
        capture=str(capture.path),
        index=index,
        unit="entry" if capture.kind is CaptureKind.HAR else "flow",
        time=request.timestamp_start,
        method=request.method,
        url=shown_url(request),
        host=host_of(request),
        status=recorded.response.status_code if recorded.response else None,
        annotation=annotation,
    )


def _exit_status(results: Iterable[CaptureResult]) -> ExitStatus:
    if any(not result.complete for result in results):
        return ExitStatus.UNREADABLE
    listed = sum(result.refusals for result in results)
    return ExitStatus.REFUSALS if listed else ExitStatus.NO_REFUSALS
