"""Run the catalogue's rules over evidence and rank what they find."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from authdiag import rules  # noqa: F401  (registers the rules in the catalogue)
from authdiag.catalogue import CAUSES, Cause, traits_of
from authdiag.evidence import Evidence
from authdiag.findings import Confidence, Finding
from authdiag.redact import encodable, scrub_lines

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The ranked findings for one flow; the first is the verdict."""

    findings: tuple[Finding, ...]
    routine: bool = False
    """The verdict is a normal protocol step (a handshake), not a failure."""
    failed_rules: tuple[str, ...] = ()
    """Causes whose rule raised on this flow (a bug in authdiag, not in the flow)."""

    @property
    def verdict(self) -> Finding | None:
        return self.findings[0] if self.findings else None


def diagnose(ev: Evidence, causes: list[Cause] | None = None) -> Diagnosis:
    """Run the rules that can apply; drop findings that yield to better ones;
    rank the rest. A fallback cause runs only when no other rule found anything.
    Given ``causes``, every one of them runs, whatever its statuses and needs."""
    regular, fallbacks = rules_for(ev) if causes is None else _split(causes)
    failed: list[str] = []
    found = _run(regular, ev, failed) or _run(fallbacks, ev, failed)

    kept = [(known, f) for known, f in found if not _yields(known, f, found)]
    # Stable sort: among equal confidence, catalogue order (specific first) wins.
    kept.sort(key=lambda pair: -pair[1].confidence)
    return Diagnosis(
        findings=tuple(_presentable(f, ev) for _, f in kept),
        routine=bool(kept) and kept[0][0].routine,
        failed_rules=tuple(failed),
    )


Chosen = tuple[list[Cause], list[Cause]]
"""The causes to run, in catalogue order: the regular ones, then the fallbacks."""


def rules_for(ev: Evidence) -> Chosen:
    """The causes whose rules can fire on this flow: those that take its status
    and whose needs its traits meet. Flows of one kind (a server refusing one
    app's expired tokens) share a status and traits, so the choice is made once
    for them; it is made again when the catalogue changes (a script may
    register a cause after this module was loaded)."""
    global _choices
    if _choices.causes is not CAUSES or _choices.count != len(CAUSES):
        _choices = _Choices(CAUSES)
    key = (ev.status, traits_of(ev, _choices.wanted))
    chosen = _choices.made.get(key)
    if chosen is None:
        status, traits = key
        chosen = _split(
            [
                c
                for c in CAUSES
                if (c.statuses is None or status in c.statuses) and c.needs <= traits
            ]
        )
        if len(_choices.made) >= MAX_CHOICES:
            _choices.made.clear()  # traits of a hostile mix of flows; start over
        _choices.made[key] = chosen
    return chosen


MAX_CHOICES = 1024
"""Choices kept at most, each a pair of short lists (up to about 3 KB with its key,
so at most 3 MB); the traits are a fixed vocabulary, so real traffic makes a
few dozen."""


class _Choices:
    """The choices made from one state of the catalogue."""

    def __init__(self, causes: list[Cause]) -> None:
        self.causes = causes
        self.count = len(causes)
        self.wanted = frozenset(trait for c in causes for trait in c.needs)
        self.made: dict[tuple[int | None, frozenset[str]], Chosen] = {}


_choices = _Choices([])


def _split(causes: list[Cause]) -> Chosen:
    return [c for c in causes if not c.fallback], [c for c in causes if c.fallback]


def _run(
    causes: list[Cause], ev: Evidence, failed: list[str]
) -> list[tuple[Cause, Finding]]:
    found = []
    # Causes found with the highest confidence: a finding that yields to one of
    # them would be dropped, so its rule need not run (catalogue order puts the
    # specific causes, which the generic ones yield to, first).
    sure: set[str] = set()
    for known in causes:
        if sure and not sure.isdisjoint(known.yields_to):
            continue
        try:
            conclusion = known.rule(ev)
        except Exception:
            # A broken rule must not cost the user the other findings, nor the flow.
            logger.exception("authdiag: rule %s failed on %s", known.id, ev.url)
            failed.append(known.id)
            continue
        if conclusion is not None:
            finding = Finding(
                cause=known.id,
                confidence=conclusion.confidence,
                summary=conclusion.summary,
                evidence=conclusion.evidence + ev.limits,
                fix=conclusion.fix,
                fault=conclusion.fault,
            )
            found.append((known, finding))
            if finding.confidence == Confidence.HIGH:
                sure.add(known.id)
    return found


def _yields(known: Cause, finding: Finding, found: list[tuple[Cause, Finding]]) -> bool:
    """Whether a finding gives way to a more specific one that is at least as sure."""
    return any(
        other.id != known.id
        and other.id in known.yields_to
        and other_finding.confidence >= finding.confidence
        for other, other_finding in found
    )


MAX_LINE = 500
"""Longest summary, evidence or fix line kept whole; a longer one (a megabyte
realm the server sent, quoted back) is cut, and says how much was cut."""


def _presentable(finding: Finding, ev: Evidence) -> Finding:
    """The finding with every secret scrubbed and every line of bounded length."""

    lines: list[str] = [finding.summary, *finding.evidence, *finding.fix]
    if ev.secrets:
        # Rules never format secrets, but server text (an error body, a
        # challenge) may echo the credential back: the last line of defence.
        lines = scrub_lines(lines, ev.secrets)
    shown = [bounded(encodable(line)) for line in lines]
    evidence_end = 1 + len(finding.evidence)
    return replace(
        finding,
        summary=shown[0],
        evidence=tuple(shown[1:evidence_end]),
        fix=tuple(shown[evidence_end:]),
    )


def bounded(line: str) -> str:
    """The line if it is at most MAX_LINE long, else its start and how much is cut."""
    if len(line) <= MAX_LINE:
        return line
    return f"{line[:MAX_LINE]}… [{len(line) - MAX_LINE:,} more characters]"
