"""Findings: what a rule concludes about one refused flow.

A finding is frozen data that serialises to the annotation contract (see
docs/annotation.md): plain dicts, lists, strings and ints, so that mitmproxy can
save it in a .flow file and a report can print it as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

METADATA_KEY = "authdiag"
"""The key of flow.metadata under which the annotation is stored."""
ANNOTATION_VERSION = 1
"""Bumped only if a field of the annotation changes meaning."""


class Confidence(IntEnum):
    """How sure a rule is. Higher sorts first when findings are ranked."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Fault(StrEnum):
    """Which side has to act to fix the cause."""

    CLIENT = "client"
    SERVER = "server"
    PROXY = "proxy"
    NETWORK = "network"


@dataclass(frozen=True, slots=True)
class Finding:
    """One likely cause of a refusal, with the evidence and the fix.

    Every string is already safe to show: rules build them from redacted views
    of credentials, never from the secrets themselves.
    """

    cause: str
    confidence: Confidence
    summary: str
    evidence: tuple[str, ...]
    fix: tuple[str, ...]
    fault: Fault

    def to_dict(self) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "confidence": self.confidence.label,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "fix": list(self.fix),
            "fault": self.fault.value,
        }
