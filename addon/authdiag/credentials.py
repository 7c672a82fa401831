"""Read the credentials a request carries: Authorization fields, API keys, cookies.

Pure functions over strings; no mitmproxy import. Every value that is a secret
stays inside the returned objects, in fields excluded from ``repr()``: nothing here
formats a secret for display (see ``redact.py`` for that).

Nothing here raises on malformed input: a malformed value is the thing being
diagnosed, so it is described (``Shape``, ``BasicShape``) rather than rejected.
Every scan is a single pass or a regex without nested quantifiers, so a
megabyte-long header costs linear time.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from authdiag import memo


class Shape(StrEnum):
    """How an Authorization value is malformed. Values are stable codes.

    ``problems`` tuples list them in the order of this enum, without duplicates.
    """

    EMPTY = "empty"  # the field is present but empty or only whitespace
    NO_SCHEME = "no-scheme"  # a bare token such as 'eyJ...' or 'abc123'
    DOUBLED_SCHEME = "doubled-scheme"  # 'Bearer Bearer x', 'Basic Basic x'
    EMPTY_CREDENTIAL = "empty-credential"  # 'Bearer' or 'Bearer   '
    QUOTED = "quoted"  # 'Bearer "x"' or the whole value in quotes
    INNER_WHITESPACE = "inner-whitespace"  # spaces or tabs inside a token68
    # newline, CR, NUL, DEL or another C0/C1 control anywhere in the value; a tab
    # is whitespace (HTAB is legal in field values), see INNER_WHITESPACE
    CONTROL_CHARACTER = "control-character"
    JSON = "json"  # a JSON object/array pasted in, e.g. a whole token response
    BAD_TOKEN68 = "bad-token68"  # characters outside the token68 alphabet


class BasicShape(StrEnum):
    """How a Basic credential (RFC 7617) is malformed.

    ``problems`` tuples list them in the order of this enum, without duplicates.
    """

    INVALID_BASE64 = "invalid-base64"  # bad alphabet, padding or length
    NO_COLON = "no-colon"  # decoded, but no ':' between user-id and password
    NOT_UTF8 = "not-utf8"  # decoded bytes are not UTF-8 (charset="UTF-8")
    CONTROL_CHARACTER = "control-character"  # forbidden by RFC 7617 §2
    EMPTY_USER = "empty-user"
    NOT_ENCODED = "not-encoded"  # 'Basic user:pass' sent without base64


@dataclass(frozen=True, slots=True)
class BasicCredential:
    """A decoded Basic credential. The password never leaves this object."""

    user_id: str | None
    """None when nothing could be decoded or the decoded text has no colon (that
    text may then be a bare secret, so it is not kept at all)."""
    password: str | None = field(repr=False, default=None)
    problems: tuple[BasicShape, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthorizationCredential:
    """One Authorization (or Proxy-Authorization) value, taken apart."""

    scheme: str
    """Lower-cased scheme ('basic', 'bearer', 'digest', 'aws4-hmac-sha256', ...),
    or '' when the value has no recognisable scheme."""
    raw_scheme: str
    """The scheme as sent ('' when none)."""
    secret: str = field(repr=False)
    """Everything after the first scheme word, trimmed (or the whole trimmed value
    when there is no scheme): the part to fingerprint, never to print. A doubled
    scheme or quotes stay in it; ``bearer_token`` and ``basic`` are cleaned."""
    problems: tuple[Shape, ...] = ()
    bearer_token: str | None = field(repr=False, default=None)
    """For Bearer (and for a bare token with no scheme): the token, unquoted, with
    a doubled scheme removed; the ``access_token`` (or ``id_token``/``token``)
    member when a JSON token response was pasted in. None when empty."""
    basic: BasicCredential | None = None
    """Always set when ``scheme`` is 'basic' (even for an empty credential)."""
    params: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Auth-params for Digest and AWS4-HMAC-SHA256 (lower-cased names), e.g.
    username, realm, nonce, uri, response (Digest); credential, signedheaders,
    signature (AWS). Values unquoted; the first of a repeated name wins.
    ``username*`` (RFC 7616 §3.4.4) is kept raw under its own name. Empty for
    other schemes. Hidden from repr: response and signature are replayable."""


# --- character classes -------------------------------------------------------

# Controls as RFC 5234 B.1 CTL (%x00-1F / %x7F) plus C1, but not HTAB: HTAB is
# whitespace in field values (RFC 9110 §5.5) and reported as INNER_WHITESPACE.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# RFC 7617 §2 forbids CTL in user-id and password, HTAB included.
_CTL = re.compile(r"[\x00-\x1f\x7f]")
# Trimmed from both ends before parsing: OWS (SP / HTAB) and stray CR/LF/NUL,
# which are still reported as CONTROL_CHARACTER.
_TRIM = "".join(map(chr, range(0x21))) + "\x7f"
# Separates words: SP / HTAB (RFC 9110 §11.4 says 1*SP; tabs are common too),
# and controls, so that a folded 'Bearer\r\n abc' still parses as Bearer.
_SEPARATORS = re.compile(r"[\x00-\x20\x7f]+")
_FIRST_WORD = re.compile(r"[^\x00-\x20\x7f]*")
# token68 (RFC 9110 §11.2) is the same alphabet as Bearer's b64token (RFC 6750
# §2.1): 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# A plausible auth-scheme: a short token. Real schemes start with a letter.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,29}")

KNOWN_SCHEMES = frozenset(
    {"basic", "bearer", "digest", "aws4-hmac-sha256", "ntlm", "negotiate"}
)
# Schemes whose credential is a single token68 (RFC 9110 §11.2; RFC 4559 for
# Negotiate; NTLM by the same convention).
_TOKEN68_SCHEMES = frozenset({"basic", "bearer", "ntlm", "negotiate"})
# Schemes whose credential is a list of auth-params (RFC 7616 §3.4; AWS SigV4).
_PARAM_SCHEMES = frozenset({"digest", "aws4-hmac-sha256"})

# Members of a pasted token response (RFC 6749 §5.1, OpenID Connect) that hold
# the token meant for the Authorization field, best first.
_JSON_TOKEN_KEYS = ("access_token", "accessToken", "id_token", "idToken", "token")


def _ordered[S: StrEnum](found: set[S], order: type[S]) -> tuple[S, ...]:
    """The problems found, in enum order: stable for callers and tests."""
    return tuple(shape for shape in order if shape in found)


# --- Authorization -----------------------------------------------------------


@memo.recent(128, 8192)
def parse_authorization(value: str) -> AuthorizationCredential:
    """Take one Authorization field value apart. Never raises.

    Heuristics for values without a usable scheme (RFC 9110 §11.4 wants
    ``auth-scheme [ 1*SP ( token68 / #auth-param ) ]``):

    - A single word that is not a known scheme is a bare token (NO_SCHEME) when
      it is >= 20 characters, contains a '.', has characters no scheme has, or
      mixes letters and digits without '-'/'_' ('abc123def456'). Otherwise
      ('Token', 'JWT', 'Api-Key') it is a scheme with an empty credential,
      unless the whole value was quoted ('"abc"' is a token).
    - With more than one word, the first is a scheme when it is known or
      plausible (a letter, then up to 29 letters, digits, '-' or '_'); so
      'Token abc' is the unknown scheme 'token', while 'eyJ.a.b c' or
      'Bearer: x' have no scheme.
    """
    found: set[Shape] = set()
    if _CONTROL.search(value):
        found.add(Shape.CONTROL_CHARACTER)
    text, quoted = _unquote(value.strip(_TRIM))
    if quoted:
        found.add(Shape.QUOTED)
        text = text.strip(_TRIM)
    if not text:
        found.add(Shape.EMPTY)
        return AuthorizationCredential("", "", "", _ordered(found, Shape))
    if _is_json(text):
        return _no_scheme_json(text, found)
    word = _FIRST_WORD.match(text)
    assert word is not None  # the pattern matches the empty string
    rest = text[word.end() :].lstrip(_TRIM)
    if rest:
        if _is_plausible_scheme(word.group()):
            return _with_scheme(word.group(), rest, found)
        return _no_scheme(text, word.group(), found)
    if word.group().lower() in KNOWN_SCHEMES:
        return _with_scheme(word.group(), "", found)
    # A lone quoted word is a pasted token: nobody quotes a scheme.
    if quoted or _is_bare_token(word.group()):
        return _no_scheme(text, word.group(), found)
    return _with_scheme(word.group(), "", found)


def _unquote(text: str) -> tuple[str, bool]:
    """Remove one pair of surrounding quotes: '"x"' (with RFC 9110 §5.6.4
    quoted-pairs undone) or the shell-style "'x'"."""
    if len(text) < 2 or text[0] != text[-1] or text[0] not in "\"'":
        return text, False
    inner = text[1:-1]
    return (_unescape(inner) if text[0] == '"' else inner), True


def _unescape(text: str) -> str:
    """Undo quoted-pairs (RFC 9110 §5.6.4: quoted-pair = "\\" ( HTAB / SP /
    VCHAR / obs-text ))."""
    return _QUOTED_PAIR.sub(r"\1", text) if "\\" in text else text


_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


def _is_json(text: str) -> bool:
    """An object is recognised by its brace even when truncated; an array only
    when it parses, since '[' rarely starts anything else pasted here."""
    return text[0] == "{" or (text[0] == "[" and _load_json(text) is not None)


def _load_json(text: str) -> object | None:
    try:
        loaded: object = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: '[[[[...' nesting
        return None
    return loaded


def _token_in_json(text: str) -> str | None:
    """The token inside a pasted token response, if any."""
    loaded = _load_json(text)
    if not isinstance(loaded, dict):
        return None
    for key in _JSON_TOKEN_KEYS:
        token = loaded.get(key)
        if isinstance(token, str) and token:
            return token
    return None


def _is_plausible_scheme(word: str) -> bool:
    return word.lower() in KNOWN_SCHEMES or _SCHEME.fullmatch(word) is not None


def _is_bare_token(word: str) -> bool:
    """Whether a lone word is a token sent without a scheme (see the heuristics in
    ``parse_authorization``)."""
    if len(word) >= 20 or "." in word or _SCHEME.fullmatch(word) is None:
        return True
    has_digit = any(ch.isdigit() for ch in word)
    return has_digit and "-" not in word and "_" not in word


def _no_scheme_json(text: str, found: set[Shape]) -> AuthorizationCredential:
    found |= {Shape.NO_SCHEME, Shape.JSON}
    return AuthorizationCredential(
        "", "", text, _ordered(found, Shape), bearer_token=_token_in_json(text)
    )


def _no_scheme(
    text: str, first_word: str, found: set[Shape]
) -> AuthorizationCredential:
    """A value whose first word is not a scheme: kept whole as the token when its
    first word looks like one."""
    found.add(Shape.NO_SCHEME)
    looks_like_token = _TOKEN68.fullmatch(first_word) is not None
    if looks_like_token and _has_inner_whitespace(text):
        found.add(Shape.INNER_WHITESPACE)
    return AuthorizationCredential(
        "",
        "",
        text,
        _ordered(found, Shape),
        bearer_token=text if looks_like_token else None,
    )


def _has_inner_whitespace(text: str) -> bool:
    return " " in text or "\t" in text


def _with_scheme(
    raw_scheme: str, rest: str, found: set[Shape]
) -> AuthorizationCredential:
    scheme = raw_scheme.lower()
    credential, doubled = _drop_doubled_scheme(rest, raw_scheme)
    if doubled:
        found.add(Shape.DOUBLED_SCHEME)
    if scheme in _PARAM_SCHEMES:
        if not credential:
            found.add(Shape.EMPTY_CREDENTIAL)
        return AuthorizationCredential(
            scheme,
            raw_scheme,
            rest,
            _ordered(found, Shape),
            params=_parse_auth_params(credential),
        )
    credential, quoted = _unquote(credential)
    if quoted:
        found.add(Shape.QUOTED)
        credential = credential.strip(_TRIM)
    found |= _token68_problems(scheme, credential)
    token: str | None = None
    if scheme == "bearer" and credential:
        token = _token_in_json(credential) if Shape.JSON in found else None
        token = token or credential
    basic = parse_basic(credential) if scheme == "basic" else None
    return AuthorizationCredential(
        scheme,
        raw_scheme,
        rest,
        _ordered(found, Shape),
        bearer_token=token,
        basic=basic,
    )


def _drop_doubled_scheme(rest: str, raw_scheme: str) -> tuple[str, bool]:
    """Skip repeated copies of the scheme at the start of the credential.

    Index-based so that 'Bearer Bearer Bearer ...' stays linear."""
    scheme, size, pos = raw_scheme.lower(), len(raw_scheme), 0
    while rest[pos : pos + size].lower() == scheme:
        end = pos + size
        if end < len(rest):
            gap = _SEPARATORS.match(rest, end)
            if gap is None:  # 'Bearer Bearerish': a longer word, not a copy
                break
            end = gap.end()
        pos = end
    return rest[pos:], pos > 0


def _token68_problems(scheme: str, credential: str) -> set[Shape]:
    """Shapes of the credential of a non-auth-param scheme."""
    if not credential:
        return {Shape.EMPTY_CREDENTIAL}
    if _is_json(credential):
        # Whitespace and braces follow from the JSON; JSON alone says it best.
        return {Shape.JSON}
    if scheme not in _TOKEN68_SCHEMES:
        return set()  # an unknown scheme may use auth-params: no syntax to check
    problems: set[Shape] = set()
    if _has_inner_whitespace(credential):
        problems.add(Shape.INNER_WHITESPACE)
    # Controls are reported on their own (CONTROL_CHARACTER), so they only split.
    pieces = _SEPARATORS.split(credential)
    if any(piece and _TOKEN68.fullmatch(piece) is None for piece in pieces):
        problems.add(Shape.BAD_TOKEN68)
    return problems


# --- auth-params (Digest, AWS4-HMAC-SHA256) ----------------------------------

# auth-param = token BWS "=" BWS ( token / quoted-string )  (RFC 9110 §11.2).
# Names are read leniently (any run up to '=', ',', '"' or whitespace) and so are
# unquoted values (up to the next ','): AWS sends 'a/b/c' and 'host;x-amz-date',
# which are not tokens.
_PARAM_NAME = re.compile(r"[^\x00-\x20\x7f=,\"]+")
_LIST_GAP = re.compile(r"[\x00-\x20\x7f,]*")
_BWS = re.compile(r"[ \t]*")
# quoted-string, as an unrolled loop: no nested ambiguity, linear on failure.
_QUOTED_STRING = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)


def _parse_auth_params(text: str) -> dict[str, str]:
    """Parse a comma-separated auth-param list (names lower-cased, values
    unquoted). Commas inside quoted strings are kept; junk between commas is
    skipped; an unterminated quoted string runs to the end. Never raises."""
    params: dict[str, str] = {}
    pos, size = 0, len(text)
    while True:
        pos = _match_end(_LIST_GAP, text, pos)
        if pos >= size:
            return params
        name = _PARAM_NAME.match(text, pos)
        if name is None:  # a stray '=' or '"': skip this list element
            pos = _next_comma(text, pos + 1)
            continue
        pos = _match_end(_BWS, text, name.end())
        if pos >= size or text[pos] != "=":  # a bare word, not name=value
            pos = _next_comma(text, pos)
            continue
        value, pos = _param_value(text, _match_end(_BWS, text, pos + 1))
        params.setdefault(name.group().lower(), value)
        pos = _next_comma(text, pos)


def _param_value(text: str, pos: int) -> tuple[str, int]:
    """The value starting at ``pos`` and the index just after it."""
    if pos < len(text) and text[pos] == '"':
        quoted = _QUOTED_STRING.match(text, pos)
        if quoted is None:  # unterminated: take the rest rather than nothing
            return _unescape(text[pos + 1 :]), len(text)
        return _unescape(quoted.group(1)), quoted.end()
    end = _next_comma(text, pos)
    return text[pos:end].strip(_TRIM), end


def _match_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    found = pattern.match(text, pos)
    return pos if found is None else found.end()


def _next_comma(text: str, pos: int) -> int:
    comma = text.find(",", pos)
    return len(text) if comma < 0 else comma


# --- Basic -------------------------------------------------------------------

# Canonical base64 (RFC 4648 §4) with exact padding; binascii alone accepts
# 'abcd=' and 'abcd===='.
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]+")
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def parse_basic(token68: str) -> BasicCredential:
    """Decode a Basic credential, splitting user-id and password at the first colon.

    RFC 7617 §2: user-pass = user-id ":" password, base64-encoded; the password
    may itself contain colons. Never raises. Behaviour worth knowing:

    - A credential containing ':' is taken as 'user:pass' sent unencoded
      (NOT_ENCODED) and split as is; no base64 is attempted.
    - Invalid base64 (bad characters, base64url, missing or extra padding) is
      INVALID_BASE64 but still decoded leniently so that the user-id can be shown.
    - Bytes that are not UTF-8 are NOT_UTF8 and decoded as ISO-8859-1.
    - Without a colon (NO_COLON) neither user_id nor password is kept.
    - 'user:pass\\n' (from ``echo user:pass | base64``) is CONTROL_CHARACTER.
    """
    text = token68.strip(_TRIM)
    if ":" in text:
        return _split_user_pass(text, {BasicShape.NOT_ENCODED})
    found: set[BasicShape] = set()
    raw = _decode_base64_strict(text)
    if raw is None:
        found.add(BasicShape.INVALID_BASE64)
        raw = _decode_base64_lenient(text)
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        found.add(BasicShape.NOT_UTF8)
        decoded = raw.decode("latin-1")  # total: every byte is a character
    return _split_user_pass(decoded, found)


def _decode_base64_strict(text: str) -> bytes | None:
    if not text.isascii() or _BASE64.fullmatch(text) is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:  # not expected after the regex; kept for safety
        return None


def _decode_base64_lenient(text: str) -> bytes:
    """Best effort: base64url mapped to base64, other characters dropped, padding
    repaired, a dangling sixth bit group dropped."""
    cleaned = _NOT_BASE64.sub("", text.translate(_URLSAFE_TO_STANDARD))
    cleaned = cleaned[: len(cleaned) - (len(cleaned) % 4 == 1)]
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned)
    except binascii.Error:  # not expected: the input is now canonical
        return b""


def _split_user_pass(text: str, found: set[BasicShape]) -> BasicCredential:
    user_id, colon, password = text.partition(":")
    if not colon:
        found.add(BasicShape.NO_COLON)
        return BasicCredential(None, None, _ordered(found, BasicShape))
    if not user_id:
        found.add(BasicShape.EMPTY_USER)
    if _CTL.search(user_id) or _CTL.search(password):
        found.add(BasicShape.CONTROL_CHARACTER)
    return BasicCredential(user_id, password, _ordered(found, BasicShape))


# --- API keys and tokens outside Authorization -------------------------------


class Location(StrEnum):
    HEADER = "header"
    QUERY = "query"


@dataclass(frozen=True, slots=True)
class PlacedCredential:
    """A credential found outside Authorization: an API key or a token."""

    location: Location
    name: str
    """The header or query parameter name, as sent."""
    value: str = field(repr=False)
    kind: str = "api-key"
    """'api-key' or 'token' (access_token, token, id_token...)."""


def _normalise_name(name: str) -> str | None:
    """Lower-case ASCII with '_' as '-'; None for names that cannot match (long or
    non-ASCII ones, which str.lower() could otherwise fold onto ASCII: 'K')."""
    if len(name) > _LONGEST_NAME or not name.isascii():
        return None
    return name.lower().replace("_", "-")


# Normalised names -> kind. X-Amz-Security-Token is deliberately absent: it is
# the session part of temporary AWS credentials, read with the SigV4 signature.
_HEADER_KINDS: Mapping[str, str] = {
    "x-api-key": "api-key",
    "api-key": "api-key",
    "apikey": "api-key",
    "x-apikey": "api-key",
    "x-api-token": "api-key",
    "ocp-apim-subscription-key": "api-key",
    "x-goog-api-key": "api-key",
    "x-rapidapi-key": "api-key",
    "x-functions-key": "api-key",
    "x-auth-token": "token",
    "x-access-token": "token",
    "x-token": "token",
    "private-token": "token",
}
_QUERY_KINDS: Mapping[str, str] = {
    "api-key": "api-key",
    "apikey": "api-key",
    "key": "api-key",
    "auth": "api-key",
    "access-token": "token",
    "token": "token",
    "id-token": "token",
    "auth-token": "token",
}
_HEADER_NAMES = frozenset(_HEADER_KINDS)
_QUERY_NAMES = frozenset(_QUERY_KINDS)
PLACED_HEADER_NAMES = _HEADER_NAMES
"""Header names find_placed_credentials looks for, lower case with '-' for '_'."""
_LONGEST_NAME = max(map(len, _HEADER_NAMES | _QUERY_NAMES))


def find_placed_credentials(
    headers: Iterable[tuple[str, str]], query: Iterable[tuple[str, str]]
) -> tuple[PlacedCredential, ...]:
    """API keys and tokens in well-known headers and query parameters.

    Headers: X-API-Key, Api-Key, apikey, X-Api-Token, X-Auth-Token, X-Access-Token,
    X-Token, Ocp-Apim-Subscription-Key, x-goog-api-key, X-RapidAPI-Key and the
    like. Query: api_key, apikey, api-key, key, access_token, token, id_token,
    auth, auth_token. Names compare case-insensitively with '-' and '_' alike.
    Headers come first, then query parameters, each in the order given. Empty
    values are still reported (an empty key is a finding). Never raises.
    """
    found = [
        *_placed(headers, Location.HEADER, _HEADER_NAMES, _HEADER_KINDS),
        *_placed(query, Location.QUERY, _QUERY_NAMES, _QUERY_KINDS),
    ]
    return tuple(found)


def _placed(
    pairs: Iterable[tuple[str, str]],
    location: Location,
    names: frozenset[str],
    kinds: Mapping[str, str],
) -> Iterable[PlacedCredential]:
    for name, value in pairs:
        key = _normalise_name(name)
        if key is not None and key in names:
            yield PlacedCredential(location, name, value, kinds[key])


# --- cookies -----------------------------------------------------------------

# Names normalised by _normalise_cookie ('-' and '.' as '_', lower case).
_SESSION_COOKIES = frozenset(
    {
        "session",
        "sessionid",
        "session_id",
        "sid",
        "phpsessid",
        "jsessionid",
        "connect_sid",  # connect.sid (Express)
        "asp_net_sessionid",  # ASP.NET_SessionId
        "cfid",  # ColdFusion, with cftoken
        "appsession",  # appSession (Auth0 express-openid-connect)
        "koa_sess",  # koa.sess
        "jwt",
        "remember_me",
    }
)
_SESSION_SUFFIXES = ("_session", "sessid", "sessionid", "session_id")
_SESSION_PREFIXES = ("aspsessionid", "wordpress_logged_in_", "wordpress_sec_")
_SESSION_WORDS = ("auth", "token")
# Cookies whose names contain 'auth' or 'token' yet hold no session: CSRF tokens
# (double-submit, RFC 6265 says nothing; OWASP), analytics, redirect targets.
_NOT_SESSION_WORDS = ("csrf", "xsrf")
_NOT_SESSION = frozenset({"_ga", "_gid", "_gat", "amp_token", "next_auth_callback_url"})
# Cookie name prefixes (RFC 6265bis §4.1.3); the real name follows them.
_COOKIE_PREFIXES = ("__host_", "__secure_")
# Drupal: 'SESS' or 'SSESS' and an md5 of the site's cookie domain.
_DRUPAL_SESSION = re.compile(r"s?sess[0-9a-f]{32}")
_NORMALISE_COOKIE = str.maketrans("-.", "__")


def is_session_cookie_name(name: str) -> bool:
    """Whether a cookie name looks like a session or auth cookie.

    E.g. session, sessionid, sid, PHPSESSID, JSESSIONID, connect.sid,
    ASP.NET_SessionId, laravel_session, _myapp_session, auth_token, access_token,
    jwt, remember_token, and any of them after __Host- / __Secure-.
    Case-insensitive; '-', '.' and '_' alike. Any name containing 'auth' or
    'token' counts, except CSRF/XSRF cookies (csrftoken, XSRF-TOKEN) and a few
    known analytics ones (_ga, AMP_TOKEN).
    """
    key = name.strip().lower().translate(_NORMALISE_COOKIE)
    for prefix in _COOKIE_PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    if key in _NOT_SESSION or any(word in key for word in _NOT_SESSION_WORDS):
        return False
    return (
        key in _SESSION_COOKIES
        or key.endswith(_SESSION_SUFFIXES)
        or key.startswith(_SESSION_PREFIXES)
        or any(word in key for word in _SESSION_WORDS)
        or _DRUPAL_SESSION.fullmatch(key) is not None
    )
