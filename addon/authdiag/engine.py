"""Run the catalogue's rules over evidence and rank what they find."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from authdiag import rules  # noqa: F401  (registers the rules in the catalogue)
from authdiag.catalogue import CAUSES, Cause
from authdiag.evidence import Evidence
from authdiag.findings import Finding
from authdiag.redact import encodable, scrub

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
    """Run every rule; drop findings that yield to better ones; rank the rest."""
    catalogue = CAUSES if causes is None else causes
    found: list[tuple[Cause, Finding]] = []
    failed: list[str] = []
    for known in catalogue:
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
            found.append((known, _presentable(finding, ev.secrets)))

    kept = [(known, f) for known, f in found if not _yields(known, f, found)]
    # Stable sort: among equal confidence, catalogue order (specific first) wins.
    kept.sort(key=lambda pair: -pair[1].confidence)
    return Diagnosis(
        findings=tuple(f for _, f in kept),
        routine=bool(kept) and kept[0][0].routine,
        failed_rules=tuple(failed),
    )


def _yields(known: Cause, finding: Finding, found: list[tuple[Cause, Finding]]) -> bool:
    """Whether a finding gives way to a more specific one that is at least as sure."""
    return any(
        other.id != known.id
        and ("*" in known.yields_to or other.id in known.yields_to)
        and other_finding.confidence >= finding.confidence
        for other, other_finding in found
    )


MAX_LINE = 500
"""Longest summary, evidence or fix line kept whole; a longer one (a megabyte
realm the server sent, quoted back) is cut, and says how much was cut."""


def _presentable(finding: Finding, secrets: tuple[str, ...]) -> Finding:
    """The finding with every secret scrubbed and every line of bounded length."""

    def shown(line: str) -> str:
        # Rules never format secrets, but server text (an error body, a
        # challenge) may echo the credential back: the last line of defence.
        line = encodable(scrub(line, secrets) if secrets else line)
        if len(line) <= MAX_LINE:
            return line
        return f"{line[:MAX_LINE]}… [{len(line) - MAX_LINE:,} more characters]"

    return replace(
        finding,
        summary=shown(finding.summary),
        evidence=tuple(shown(line) for line in finding.evidence),
        fix=tuple(shown(line) for line in finding.fix),
    )
