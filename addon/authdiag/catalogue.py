"""The catalogue of causes: one entry per cause, each with its rule and its docs.

A rule is a small function from evidence to a conclusion (or None when its cause
does not apply). The catalogue is the single place that names causes: the engine
runs its rules, and docs/causes.md is generated from its text.

A cause may also name the traits a flow needs for its rule to fire: cheap facts
('the request carried a JWT', 'the error code is one Okta uses') found once per
flow by the trait finders the rule modules register. Most refusals have few of
them, so the engine runs only the handful of rules whose needs they meet
instead of every rule in the catalogue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from authdiag.evidence import Evidence
from authdiag.findings import Confidence, Fault


@dataclass(frozen=True, slots=True)
class Conclusion:
    """What a rule concludes; the engine adds the cause id to make a Finding."""

    confidence: Confidence
    summary: str
    evidence: tuple[str, ...]
    fix: tuple[str, ...]
    fault: Fault


Rule = Callable[[Evidence], Conclusion | None]


@dataclass(frozen=True, slots=True)
class Cause:
    """A cause of refusal the engine knows, with the text that documents it."""

    id: str
    title: str
    triggers: str
    """What in a flow makes the rule fire (for docs/causes.md)."""
    shows: str
    """What its evidence lines show (for docs/causes.md)."""
    remedy: str
    """The usual fix, in general terms (for docs/causes.md)."""
    rule: Rule
    routine: bool = False
    """A normal protocol step rather than a failure: annotated, not marked."""
    yields_to: tuple[str, ...] = ()
    """Causes that, when also found, explain the refusal better: this cause's
    finding is then dropped (a generic cause yields to the specific ones)."""
    statuses: frozenset[int] | None = None
    """The only response statuses the rule can fire on (None: any, or none at
    all for a flow without a response); the engine runs no other rule."""
    fallback: bool = False
    """Run only when no other rule found anything (the 'unknown' cause)."""
    needs: frozenset[str] = frozenset()
    """Traits a flow must all have for the rule to fire (see ``traits_of``):
    a necessary condition the rule still checks for itself, never a sufficient one."""


logger = logging.getLogger(__name__)

CAUSES: list[Cause] = []
"""Every cause, in the order rules run; earlier causes win ties in ranking."""

TraitFinder = Callable[[Evidence], Iterable[str]]
"""Names the traits a flow has; it may name traits no cause needs."""
TRAIT_FINDERS: list[TraitFinder] = []


def trait_finder(find: TraitFinder) -> TraitFinder:
    """Register a function that names traits of a flow (see ``Cause.needs``)."""
    TRAIT_FINDERS.append(find)
    return find


def traits_of(ev: Evidence, wanted: frozenset[str]) -> frozenset[str]:
    """The flow's traits among those ``wanted`` (the ones causes need): the
    rest, such as a challenge scheme no rule asks for, are left out so that
    the flows a server sends map to few distinct sets.

    A finder that fails (a bug in authdiag) is logged, and the flow is given
    every trait: every rule then runs, so no finding is lost to the failure."""
    found: set[str] = set()
    for find in TRAIT_FINDERS:
        try:
            found.update(find(ev))
        except Exception:
            logger.exception(
                "authdiag: trait finder %s failed on %s", find.__name__, ev.url
            )
            return wanted
    return frozenset(found) & wanted


def cause(
    cause_id: str,
    *,
    title: str,
    shows: str,
    triggers: str,
    remedy: str,
    routine: bool = False,
    yields_to: tuple[str, ...] = (),
    statuses: Iterable[int] | None = None,
    fallback: bool = False,
    needs: Iterable[str] = (),
) -> Callable[[Rule], Rule]:
    """Register the decorated rule under a stable cause id."""

    def register(rule: Rule) -> Rule:
        if any(known.id == cause_id for known in CAUSES):
            raise ValueError(f"cause {cause_id!r} is registered twice")
        CAUSES.append(
            Cause(
                cause_id,
                title,
                triggers,
                shows,
                remedy,
                rule,
                routine,
                yields_to,
                frozenset(statuses) if statuses is not None else None,
                fallback,
                frozenset(needs),
            )
        )
        return rule

    return register


def find_cause(cause_id: str) -> Cause | None:
    return next((known for known in CAUSES if known.id == cause_id), None)
