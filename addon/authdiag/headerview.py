"""A message's header fields, decoded and indexed by name once.

mitmproxy's ``Headers`` keeps the raw fields and, on every lookup, lower-cases
and compares every field name: the thirty lookups a diagnosis makes would scan
the fields thirty times. A view is built once per message from the same raw
fields, decoded the way mitmproxy decodes them (UTF-8, undecodable bytes kept as
surrogates), and answers each lookup with one dictionary access.
"""

from __future__ import annotations

from collections.abc import Iterator

from mitmproxy import http


class HeaderView:
    """Read-only header access with the semantics of mitmproxy's ``Headers``."""

    __slots__ = ("_by_name", "fields")

    def __init__(self, headers: http.Headers | None) -> None:
        self.fields: tuple[tuple[str, str], ...] = (
            tuple((decoded(name), decoded(value)) for name, value in headers.fields)
            if headers is not None
            else ()
        )
        """Every (name, value) in the order received, names as spelled."""
        by_name: dict[str, list[str]] = {}
        for name, value in self.fields:
            by_name.setdefault(name.lower(), []).append(value)
        self._by_name = by_name

    def get_all(self, name: str) -> list[str]:
        """Every value of the field (``name`` in lower case), unfolded."""
        return self._by_name.get(name, [])

    def get(self, name: str, default: str | None = None) -> str | None:
        """The field's values folded with ', ', as mitmproxy reads a header."""
        values = self._by_name.get(name)
        return ", ".join(values) if values else default

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)


def decoded(raw: bytes) -> str:
    """Header (or path) bytes as mitmproxy decodes them: UTF-8, with bytes that
    are not UTF-8 kept as lone surrogates."""
    return raw.decode("utf-8", "surrogateescape")


EMPTY = HeaderView(None)
