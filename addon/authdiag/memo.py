"""Reuse what a pure parser made of an input seen recently.

An app sends the same Authorization header with every request until it
refreshes its token, and a server answers every refusal with the same challenge
and the same error body. Parsing them again costs tens of microseconds per
flow, so the results for the last inputs are kept and shared. Every parser
memoised here returns an immutable value, and only small inputs are kept, so the
memory held stays under ``maxsize`` times ``max_input`` whatever clients send.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

KEPT: list[object] = []
"""Every cache made here, for the memory benchmark to weigh."""


def recent(maxsize: int, max_input: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Keep the results for the last ``maxsize`` distinct arguments (strings,
    bytes, tuples of them, numbers, None) that hold at most ``max_input``
    characters in all; larger inputs are parsed anew each time.

    An input seen before costs one dictionary lookup: its size is counted only
    when it is parsed, to decide whether to keep it. The oldest entry makes
    room for a new one (first in, first out: the same token sent again is
    parsed again once ``maxsize`` other inputs have come after it)."""

    def decorate(parse: Callable[P, R]) -> Callable[P, R]:
        kept: dict[tuple[object, ...], R] = {}
        KEPT.append(kept)

        @functools.wraps(parse)
        def parse_recent(*args: P.args, **kwargs: P.kwargs) -> R:
            if kwargs:
                return parse(*args, **kwargs)
            try:
                return kept[args]
            except KeyError:
                pass
            except TypeError:  # an argument that cannot be a key (a list)
                return parse(*args, **kwargs)
            result = parse(*args, **kwargs)
            if _size(args, max_input) <= max_input:
                if len(kept) >= maxsize:
                    del kept[next(iter(kept))]
                kept[args] = result
            return result

        return parse_recent

    return decorate


def _size(value: object, limit: int) -> int:
    """Characters in ``value``, counted until they pass ``limit``."""
    kind = type(value)
    if kind is str or kind is bytes:
        return len(value)  # type: ignore[arg-type]
    if kind is tuple:
        total = 0
        for part in value:  # type: ignore[attr-defined]
            part_kind = type(part)
            if part_kind is str or part_kind is bytes:
                total += len(part)
            else:
                total += _size(part, limit - total)
            if total > limit:
                break
        return total
    if value is None or kind is int or kind is float:
        return 0
    # Anything else (a list, a generator) cannot be a key: never kept.
    return sys.maxsize
