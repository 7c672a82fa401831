"""Where authdiag stops reading a flow, and the evidence lines that say so.

A proxy that is left on meets hostile and broken traffic: a gzip body that
expands to gigabytes, a megabyte-long error page, JSON nested too deeply to
parse. authdiag reads a bounded head of such a body, and every finding on that
flow says so in an evidence line, so that nobody mistakes a partial reading
for a complete one.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import brotli  # type: ignore[import-untyped]  # mitmproxy's own dependency
from mitmproxy import http

from authdiag.bodies import MAX_BODY, ErrorBody, parse_error_body

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

KIB = 1024


@dataclass(frozen=True, slots=True)
class BodyHead:
    """The start of a response body, decoded, and what was left unread."""

    content: bytes
    """At most MAX_BODY + 1 bytes: one more than is parsed, so that the parser
    knows the body goes on."""
    limits: tuple[str, ...] = ()
    """Evidence lines for each limit that applied."""


def body_head(response: http.Response) -> BodyHead:
    """Decode no more of the body than authdiag reads (MAX_BODY bytes).

    mitmproxy's ``get_content()`` would decode the whole body, and keep it in a
    module-level cache: a 100 KB gzip body of zeros costs 100 MB that way.
    """
    raw = response.raw_content or b""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    decoder = _DECODERS.get(encoding)
    if decoder is None:
        # identity, or an encoding mitmproxy cannot decode either: read as sent.
        return BodyHead(raw[: MAX_BODY + 1], _size_limit(len(raw)))
    try:
        content = decoder(raw)[: MAX_BODY + 1]
    except (zlib.error, brotli.error, zstd.ZstdError, ValueError):
        return BodyHead(raw[: MAX_BODY + 1], _size_limit(len(raw)))
    if len(content) <= MAX_BODY:
        return BodyHead(content)
    line = (
        f"body: more than {MAX_BODY // KIB} KiB once decoded ({encoding}); "
        f"authdiag read the first {MAX_BODY // KIB} KiB"
    )
    return BodyHead(content, (line,))


def _size_limit(size: int) -> tuple[str, ...]:
    if size <= MAX_BODY:
        return ()
    return (f"body: {size:,} bytes; authdiag read the first {MAX_BODY // KIB} KiB",)


JSON_UNREADABLE = (
    "body: starts like JSON but could not be read as JSON (malformed or nested "
    "too deeply); authdiag read it as text"
)


def read_body(response: http.Response) -> tuple[ErrorBody | None, tuple[str, ...]]:
    """What the body says, and the evidence lines for the limits that applied."""
    head = body_head(response)
    body = parse_error_body(head.content, response.headers.get("content-type"))
    if (
        not head.limits
        and body is not None
        and body.source == "text body"
        and head.content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")
    ):
        # json.loads gave up: the nesting exceeded Python's recursion limit, or
        # the JSON is broken. (A cut-off body already has its size line.)
        return body, (JSON_UNREADABLE,)
    return body, head.limits


# Each decoder stops once it has produced one byte more than authdiag reads.
_WANTED = MAX_BODY + 1


def _gunzip(raw: bytes) -> bytes:
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, _WANTED)


def _inflate(raw: bytes) -> bytes:
    # 'deflate' is meant to be zlib-wrapped (RFC 9110 §8.4.1.2); some servers
    # send a raw deflate stream, which mitmproxy also accepts.
    try:
        return zlib.decompressobj(zlib.MAX_WBITS).decompress(raw, _WANTED)
    except zlib.error:
        return zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw, _WANTED)


def _unbrotli(raw: bytes) -> bytes:
    content: bytes = brotli.Decompressor().process(raw, output_buffer_limit=_WANTED)
    return content


def _unzstd(raw: bytes) -> bytes:
    return zstd.ZstdDecompressor().decompress(raw, max_length=_WANTED)


_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": _gunzip,
    "x-gzip": _gunzip,
    "deflate": _inflate,
    "br": _unbrotli,
    "zstd": _unzstd,
}
