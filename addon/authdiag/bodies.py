"""Read what an error response body says about a refusal.

Servers often explain more in the body than in their headers: RFC 6750 / OAuth
``error`` and ``error_description``, or the common JSON shapes
``{"message": ...}``, ``{"detail": ...}``, ``{"msg": ...}``, ``{"error": ...}``,
``{"error": {"code": ..., "message": ..., "status": ...}}``, ``{"errors": [...]}``;
for HTML the <title> or first <h1>; for XML (S3, Azure Storage) <Code> and
<Message>; for plain text the first non-empty line.

Bodies come from servers we do not control, so every step is bounded: at most
64 KiB is read, JSON nesting that exhausts the recursion limit is caught, and
the HTML/XML scanning is linear (str.find and anchored regexes, no backtracking
over the whole body).
"""

from __future__ import annotations

import codecs
import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from authdiag import memo

MAX_TEXT = 300
"""Longest message kept; longer ones are cut and marked with an ellipsis."""

MAX_BODY = 64 * 1024
"""Bytes of a body that are read at all."""

_MAX_FIELDS = 20
_MAX_FIELD_TEXT = 100
_ELLIPSIS = "…"

# Codecs a declared charset may pick. Others (punycode, idna, utf-7, ...) are
# rare in error bodies and not all decode in linear time; those bodies are read
# as UTF-8 instead.
_CHARSET_PREFIXES = ("utf-8", "utf-16", "utf-32", "ascii", "latin-1", "iso8859", "cp")

# A token such as 'invalid_token' or 'Unauthorized', as opposed to a sentence.
_CODE_LIKE = re.compile(r"[A-Za-z0-9_.:#/-]{1,80}")
_WHITESPACE = re.compile(r"\s+")
# [^<>] rather than [^>] so a run of '<' without '>' cannot make this quadratic.
_TAG = re.compile(r"<[^<>]*>")


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """The refusal as the body states it. Every string is at most MAX_TEXT long."""

    code: str | None = None
    """A machine-readable code: OAuth 'error', 'code' (string), 'error.status',
    'reason', 'error' when it is a short token such as 'invalid_token'."""
    message: str | None = None
    """A human message: error_description, message, detail, msg, title, or the
    HTML <title> / first text line. Whitespace is collapsed to single spaces."""
    source: str = ""
    """Where these came from, for evidence: 'JSON body', 'HTML title',
    'HTML heading', 'XML body', 'text body'."""
    fields: tuple[tuple[str, str], ...] = ()
    """Other short top-level string/number fields worth matching on later (e.g.
    ('kind','Status'), ('reason','Unauthorized')), at most 20, values capped at
    100 characters. Booleans are spelled as in JSON: 'true', 'false'."""


@memo.recent(64, 16384)
def parse_error_body(
    content: bytes | None, content_type: str | None
) -> ErrorBody | None:
    """What the body says, or None when it says nothing usable. Never raises.

    Reads at most the first 64 KiB of a body; a deeply nested JSON body must not
    recurse without limit. Binary bodies (images, archives, anything with many
    control bytes) and empty ones give None. A body whose JSON is cut off or
    invalid falls back to its first line as text.
    """
    if not content:
        return None
    media_type, charset = _media_type(content_type or "")
    text = _decode(content[:MAX_BODY], len(content) > MAX_BODY, media_type, charset)
    if text is None:
        return None
    text = text.lstrip("\ufeff \t\r\n")
    if not text:
        return None
    if _is_json(media_type) or text.startswith(("{", "[", '"')):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            # Invalid, cut at MAX_BODY, or nested deeper than the recursion
            # limit: the other readers may still make sense of it.
            pass
        else:
            # Valid JSON is the whole answer, even when it says nothing.
            return _read_json(value)
    for reader in _readers(media_type, text):
        found = reader(text)
        if found is not None:
            return found
    return None


# --- media type and decoding --------------------------------------------------


def _media_type(content_type: str) -> tuple[str, str | None]:
    """The lower-cased type/subtype and the charset parameter (RFC 9110 §8.3)."""
    media_type, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').strip() or None
    return media_type.strip().lower(), charset


def _is_json(media_type: str) -> bool:
    # application/json, application/problem+json (RFC 9457), any +json (RFC 6839).
    return media_type.endswith(("/json", "+json"))


def _is_xml(media_type: str) -> bool:
    return media_type.endswith(("/xml", "+xml"))


def _is_html(media_type: str) -> bool:
    return media_type in ("text/html", "application/xhtml+xml")


def _is_text(media_type: str) -> bool:
    return (
        media_type.startswith("text/")
        or _is_json(media_type)
        or _is_xml(media_type)
        or media_type in ("application/javascript", "application/x-www-form-urlencoded")
    )


def _decode(
    head: bytes, truncated: bool, media_type: str, charset: str | None
) -> str | None:
    """The head as text, or None when it is binary.

    Declared text is decoded leniently (bad bytes become U+FFFD); anything else
    must be strict UTF-8. A cut body may end inside a multi-byte character, so
    a truncated head is decoded as an unfinished stream.
    """
    errors = "replace" if _is_text(media_type) else "strict"
    try:
        decoder = codecs.getincrementaldecoder(_codec(charset))(errors)
        text: str = decoder.decode(head, final=not truncated)
    except (UnicodeError, LookupError, ValueError, TypeError):
        return None
    return None if _looks_binary(text) else text


def _codec(charset: str | None) -> str:
    if charset is None:
        return "utf-8"
    try:
        name = codecs.lookup(charset).name
    except (LookupError, ValueError):
        return "utf-8"
    return name if name.startswith(_CHARSET_PREFIXES) else "utf-8"


def _looks_binary(text: str) -> bool:
    """NUL anywhere, or more than 1 in 10 characters control or undecodable."""
    if "\x00" in text:
        return True
    odd = sum(1 for ch in text if (ch < " " and ch not in "\t\n\r\f") or ch == "\ufffd")
    return odd * 10 > len(text)


# --- choosing a reader --------------------------------------------------------


def _readers(media_type: str, text: str) -> list[Callable[[str], ErrorBody | None]]:
    """Readers for a body that is not valid JSON, in order; the first that finds
    something wins.

    What the text looks like counts as much as the declared type, because
    servers (and proxies in front of them) mislabel error bodies often: an HTML
    gateway page served as application/json is common.
    """
    readers: list[Callable[[str], ErrorBody | None]] = []
    if _is_html(media_type) or (text.startswith("<") and not _is_xml(media_type)):
        readers.append(_read_html)
    if _is_xml(media_type) or text.startswith("<?xml"):
        readers.append(_read_xml)
    if not text.startswith("<"):
        readers.append(_read_text)
    return readers


# --- JSON ---------------------------------------------------------------------


def _read_json(value: Any) -> ErrorBody | None:
    """A parsed JSON body: a string, an object, or a list led by an object."""
    if isinstance(value, str):
        # ASP.NET Core's Unauthorized("...") answers with a bare JSON string.
        message = _clean(value, MAX_TEXT)
        return ErrorBody(message=message, source="JSON body") if message else None
    if isinstance(value, list) and value and isinstance(value[0], dict):
        # Salesforce: [{"message": ..., "errorCode": ...}]
        value = value[0]
    if not isinstance(value, dict):
        return None
    return _read_json_object(value)


def _read_json_object(obj: dict[str, Any]) -> ErrorBody | None:
    # Key names are matched case-insensitively: AWS API Gateway sends "Message"
    # for an explicit deny, "message" otherwise.
    keys = _lower_keys(obj)
    code = _json_code(keys)
    message = _json_message(keys)
    error = keys.get("error")
    if message is None and isinstance(error, str) and not _is_code_like(error):
        message = _clean(error, MAX_TEXT)  # {"error": "Token is invalid."}
    fields = _scalar_fields(obj)
    if code is None and message is None and not fields:
        return None
    return ErrorBody(code=code, message=message, source="JSON body", fields=fields)


def _lower_keys(obj: Mapping[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for key, value in obj.items():
        keys.setdefault(key.lower(), value)
    return keys


def _json_code(keys: Mapping[str, Any]) -> str | None:
    error = keys.get("error")
    if isinstance(error, str) and _is_code_like(error):
        return error  # RFC 6749 §5.2 / RFC 6750 §3.1 'invalid_token'; Spring
    if isinstance(error, dict):
        # Google: {"error": {"code": 401, "status": "UNAUTHENTICATED"}};
        # Azure ARM: {"error": {"code": "ExpiredAuthenticationToken"}}
        found = _first_string(_lower_keys(error), ("status", "code", "type"))
        if found is not None:
            return found
    found = _first_string(keys, ("code", "reason", "errorcode", "error_code"))
    if found is not None:
        return found  # WordPress 'code', Kubernetes 'reason', Salesforce
    aws_type = keys.get("__type")
    if isinstance(aws_type, str) and aws_type.strip():
        # AWS JSON protocols: "com.amazon.coral.service#UnrecognizedClientException"
        return _clean(aws_type.rpartition("#")[2], MAX_TEXT)
    return _errors_item_code(keys.get("errors"))


def _json_message(keys: Mapping[str, Any]) -> str | None:
    error = keys.get("error")
    nested = _lower_keys(error) if isinstance(error, dict) else {}
    found = (
        _first_string(keys, ("error_description",))  # RFC 6749 §5.2
        or _first_string(nested, ("message",))  # Google, Azure ARM
        or _first_string(keys, ("message", "detail", "msg", "error_message"))
        or _first_string(keys, ("title",))  # RFC 9457 problem without detail
    )
    if found is not None:
        return found
    detail = keys.get("detail")
    if isinstance(detail, list):
        return _errors_item_message(detail)  # FastAPI validation errors
    return _errors_item_message(keys.get("errors"))


def _first_string(keys: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    """The first named member that is a non-blank string, cleaned and capped."""
    for name in names:
        value = keys.get(name)
        if isinstance(value, str):
            cleaned = _clean(value, MAX_TEXT)
            if cleaned:
                return cleaned
    return None


def _first_item(errors: Any) -> Any:
    return errors[0] if isinstance(errors, list) and errors else None


def _errors_item_message(errors: Any) -> str | None:
    """GraphQL (spec §7.1.2), Docker Registry, JSON:API: the first error's text."""
    item = _first_item(errors)
    if isinstance(item, str):
        return _clean(item, MAX_TEXT) or None
    if isinstance(item, dict):
        return _first_string(_lower_keys(item), ("message", "detail", "msg", "title"))
    return None


def _errors_item_code(errors: Any) -> str | None:
    item = _first_item(errors)
    if not isinstance(item, dict):
        return None
    keys = _lower_keys(item)
    found = _first_string(keys, ("code",))  # Docker Registry 'UNAUTHORIZED'
    extensions = keys.get("extensions")
    if found is None and isinstance(extensions, dict):
        # Apollo Server: {"extensions": {"code": "UNAUTHENTICATED"}}
        found = _first_string(_lower_keys(extensions), ("code",))
    return found


def _is_code_like(value: str) -> bool:
    return _CODE_LIKE.fullmatch(value.strip()) is not None


def _scalar_fields(obj: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Short top-level scalars for signature matching; nested values are left."""
    fields: list[tuple[str, str]] = []
    for key, value in obj.items():
        if len(fields) >= _MAX_FIELDS:
            break
        text = _scalar_text(value)
        if text is not None and len(key) <= _MAX_FIELD_TEXT:
            fields.append((key, text))
    return tuple(fields)


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # Python refuses to print ints over 4300 digits; those are not codes.
        return str(value) if abs(value) < 10**_MAX_FIELD_TEXT else None
    if isinstance(value, str):
        return _clean(value, _MAX_FIELD_TEXT)
    return None


# --- HTML, XML, text ----------------------------------------------------------


def _read_html(text: str) -> ErrorBody | None:
    # nginx: <title>401 Authorization Required</title> ... <h1>the same</h1>
    title = _element_text(text, "title")
    if title:
        return ErrorBody(message=title, source="HTML title")
    heading = _element_text(text, "h1")
    if heading:
        return ErrorBody(message=heading, source="HTML heading")
    return None


def _read_xml(text: str) -> ErrorBody | None:
    # Amazon S3 and Azure Storage: <Error><Code>AccessDenied</Code>
    # <Message>Access Denied</Message>...</Error>
    code = _element_text(text, "code")
    message = _element_text(text, "message")
    if not code and not message:
        return None
    return ErrorBody(code=code or None, message=message or None, source="XML body")


def _read_text(text: str) -> ErrorBody | None:
    for line in text.splitlines():
        cleaned = _clean(line, MAX_TEXT)
        if cleaned:
            return ErrorBody(message=cleaned, source="text body")
    return None


def _element_text(text: str, tag: str) -> str:
    """The text of the first non-empty ``<tag>`` element ('' when none).

    Each search starts where the previous one ended, so the whole scan is linear
    in the body length whatever the body contains.
    """
    opening = re.compile(rf"<{tag}(?=[\s/>])", re.IGNORECASE)
    closing = re.compile(rf"</{tag}\s*>", re.IGNORECASE)
    position = 0
    while (start := opening.search(text, position)) is not None:
        inner_start = text.find(">", start.end())
        if inner_start < 0:
            return ""
        end = closing.search(text, inner_start + 1)
        if end is None:
            return ""
        inner = _clean(
            html.unescape(_TAG.sub(" ", text[inner_start + 1 : end.start()]))
        )
        if inner:
            return inner
        position = end.end()
    return ""


def _clean(value: str, limit: int = MAX_TEXT) -> str:
    """Whitespace collapsed, then cut to ``limit`` characters with an ellipsis."""
    collapsed = _WHITESPACE.sub(" ", value).strip()
    if len(collapsed) <= limit:
        return collapsed
    return collapsed[: limit - 1] + _ELLIPSIS
