"""Parse WWW-Authenticate and Proxy-Authenticate fields (RFC 9110 §11.6.1, §11.7.1).

    challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param = token BWS "=" BWS ( token / quoted-string )

Commas separate both challenges and the params inside one, so the value is read
with a small tokenizer rather than split on commas. The parser never raises: what
it cannot read becomes a problem, reported beside whatever it could read.

Decisions a caller should know:

* Each field line is parsed on its own: an auth-param at the start of a line is
  reported as a problem rather than attached to the previous line's challenge.
* ``Scheme word`` alone is a token68 (RFC 9110 §11.2), but when the next list
  element is an auth-param (``Digest realm, nonce="n"``) the word is read as an
  auth-param with no value instead, which is what such servers mean.
* A param whose value is unreadable (unterminated quote, missing value) is left
  out of ``params``; the problem says why.
* Unquoted values that are not tokens (``nonce=abc==``) are kept as written,
  with a problem saying they should have been quoted.
* Problems are capped at ``MAX_PROBLEMS`` entries plus one "... and N more" line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from authdiag import memo

MAX_PROBLEMS = 20
"""Most problems listed; any beyond are summed up in one final entry."""
_EXCERPT = 40
"""Most characters of offending input quoted in a problem."""

# tchar, RFC 9110 §5.6.2. Only single-character classes run through these
# patterns, so matching cannot backtrack and stays linear in the input.
_TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(f"[{_TCHAR}]+")
# token68, RFC 9110 §11.2.
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# What a lenient reader takes as an unquoted value: a token, or something
# token68-like that the server forgot to quote.
_LOOSE_VALUE = re.compile(f"[{_TCHAR}/][{_TCHAR}/=]*")
# OWS / BWS, RFC 9110 §5.6.3.
_OWS = re.compile(r"[ \t]*")
# Empty list elements are allowed (RFC 9110 §5.6.1), so runs of commas and
# whitespace are all one separator.
_SEPARATORS = re.compile(r"[ \t,]*")
# qdtext run inside a quoted-string, RFC 9110 §5.6.4.
_QDTEXT = re.compile(r'[^"\\]*')
_TO_COMMA_OR_QUOTE = re.compile(r'[^,"]*')


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge: a scheme with either a token68 or auth-params."""

    scheme: str
    """The scheme as the server spelled it, e.g. ``Bearer``."""
    token68: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    """Auth-params by lower-cased name; quoted values unescaped; first one wins."""
    duplicate_params: tuple[str, ...] = ()
    """Lower-cased names that appeared more than once in this challenge."""

    @property
    def scheme_key(self) -> str:
        """The scheme lower-cased, for comparisons (schemes are case-insensitive)."""
        return self.scheme.lower()

    def param(self, name: str) -> str | None:
        """The value of an auth-param, matched case-insensitively."""
        return self.params.get(name.lower())


@dataclass(frozen=True, slots=True)
class Challenges:
    """Every challenge in one or more fields, in order, plus what was unreadable."""

    challenges: tuple[Challenge, ...] = ()
    problems: tuple[str, ...] = ()
    """Human-readable syntax problems, e.g. 'unterminated quoted string at ...'.
    At most MAX_PROBLEMS entries, then one '... and N more problems'."""

    def find(self, scheme: str) -> Challenge | None:
        """The first challenge with this scheme (case-insensitive), if any."""
        key = scheme.lower()
        return next((c for c in self.challenges if c.scheme_key == key), None)

    @property
    def schemes(self) -> tuple[str, ...]:
        """Lower-cased schemes in order, without repeats."""
        return tuple(dict.fromkeys(c.scheme_key for c in self.challenges))

    def __bool__(self) -> bool:
        return bool(self.challenges)


@memo.recent(64, 8192)
def parse_challenges(field_values: Iterable[str]) -> Challenges:
    """Parse every value of a WWW-Authenticate (or Proxy-Authenticate) field.

    Pass one string per field line, e.g. ``headers.get_all("WWW-Authenticate")``;
    a bare string is taken as a single field line. Never raises, whatever the
    input; time is linear in the total length.
    """
    values: Iterable[object] = (
        [field_values] if isinstance(field_values, str) else field_values
    )
    drafts: list[_Draft] = []
    problems = _Problems()
    for number, value in enumerate(values, start=1):
        if isinstance(value, str):
            _FieldScanner(value, number, drafts, problems).run()
        else:
            problems.add(f"field value {number} is {type(value).__name__}, not text")
    return Challenges(tuple(d.freeze() for d in drafts), problems.result())


class _Problems:
    """Collects problem strings, keeping only the first MAX_PROBLEMS."""

    __slots__ = ("dropped", "items")

    def __init__(self) -> None:
        self.items: list[str] = []
        self.dropped = 0

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_PROBLEMS

    def add(self, message: str) -> None:
        if self.full:
            self.dropped += 1
        else:
            self.items.append(message)

    def result(self) -> tuple[str, ...]:
        if self.dropped:
            return (*self.items, f"... and {self.dropped} more problems")
        return tuple(self.items)


class _Draft:
    """A challenge being read; params can keep arriving until the next scheme."""

    __slots__ = ("duplicates", "params", "scheme", "token68")

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        self.token68: str | None = None
        self.params: dict[str, str] = {}
        self.duplicates: dict[str, None] = {}  # an ordered set

    def freeze(self) -> Challenge:
        return Challenge(self.scheme, self.token68, self.params, tuple(self.duplicates))


class _FieldScanner:
    """Reads one field value by index; never slices off the rest of the string."""

    __slots__ = ("current", "drafts", "n", "number", "pos", "problems", "text")

    def __init__(
        self, text: str, number: int, drafts: list[_Draft], problems: _Problems
    ) -> None:
        self.text = text
        self.n = len(text)
        self.number = number
        self.drafts = drafts
        self.problems = problems
        self.pos = 0
        self.current: _Draft | None = None

    def run(self) -> None:
        while True:
            self.pos = self._past(_SEPARATORS, self.pos)
            if self.pos >= self.n:
                return
            self._element()

    # -- list elements ------------------------------------------------------

    def _element(self) -> None:
        """One list element: a new challenge, or an auth-param of the current one."""
        start = self.pos
        name = _TOKEN.match(self.text, start)
        if name is None:
            self._problem("unexpected character", start)
            self._skip_element(start)
            return
        eq = self._ows(name.end())
        if eq < self.n and self.text[eq] == "=":
            # token BWS "=" can only start an auth-param (RFC 9110 §11.2).
            if self.current is None:
                self._problem("auth-param before any auth-scheme", start)
                self._skip_element(eq)
            else:
                self._param(self.current, name.group(), start, eq)
            return
        self._challenge(name.group(), start, name.end())

    def _challenge(self, scheme: str, start: int, end: int) -> None:
        """auth-scheme [ 1*SP ( token68 / #auth-param ) ] (RFC 9110 §11.1)."""
        if end < self.n and self.text[end] not in " \t,":
            self._problem("unreadable auth-scheme", start)
            self._skip_element(end)
            return
        draft = _Draft(scheme)
        self.drafts.append(draft)
        self.current = draft
        self.pos = self._ows(end)
        if self.pos >= self.n or self.text[self.pos] == ",":
            return
        if not self._token68(draft, self.pos):
            self._first_param(draft, self.pos)

    def _token68(self, draft: _Draft, start: int) -> bool:
        """Take a token68 if it fills the whole element (RFC 9110 §11.2)."""
        match = _TOKEN68.match(self.text, start)
        if match is None:
            return False
        end = self._ows(match.end())
        if end < self.n and self.text[end] != ",":
            return False  # e.g. 'realm=' followed by a value: auth-params
        if self._param_follows(end):
            # 'Digest realm, nonce="n"': a param list with a value missing,
            # not a token68 followed by params (which the grammar forbids).
            return False
        draft.token68 = match.group()
        self.pos = end
        return True

    def _param_follows(self, pos: int) -> bool:
        """Whether the next list element after pos starts with token BWS "="."""
        pos = self._past(_SEPARATORS, pos)
        name = _TOKEN.match(self.text, pos)
        if name is None:
            return False
        eq = self._ows(name.end())
        return eq < self.n and self.text[eq] == "="

    # -- auth-params ----------------------------------------------------------

    def _first_param(self, draft: _Draft, start: int) -> None:
        """The auth-param right after the scheme, where a bare token is an error."""
        name = _TOKEN.match(self.text, start)
        if name is None:
            self._problem(f"unreadable auth-param in {draft.scheme!r} challenge", start)
            self._skip_element(start)
            return
        eq = self._ows(name.end())
        if eq >= self.n or self.text[eq] != "=":
            self._problem(f"auth-param {name.group()!r} has no '=' and no value", start)
            self._skip_element(eq)
            return
        self._param(draft, name.group(), start, eq)

    def _param(self, draft: _Draft, name: str, start: int, eq: int) -> None:
        """auth-param = token BWS "=" BWS ( token / quoted-string ), from the '='."""
        key = name.lower()  # auth-param names are case-insensitive (§11.2)
        value = self._value(key, self._ows(eq + 1))
        if value is None:
            return
        if key in draft.params:
            # §11.2: each parameter name MUST only occur once per challenge.
            draft.duplicates[key] = None
            self._problem(
                f"auth-param {key!r} repeated in {draft.scheme!r} challenge; "
                "first value kept",
                start,
            )
        else:
            draft.params[key] = value
        self._end_of_element(f"auth-param {key!r}")

    def _value(self, key: str, start: int) -> str | None:
        """Read a value at start, or report why not and return None."""
        if start >= self.n or self.text[start] == ",":
            self._problem(f"auth-param {key!r} has no value", start)
            self.pos = start
            return None
        if self.text[start] == '"':
            return self._quoted(key, start)
        match = _LOOSE_VALUE.match(self.text, start)
        if match is None:
            self._problem(f"auth-param {key!r} has an unreadable value", start)
            self._skip_element(start)
            return None
        self.pos = match.end()
        value = match.group()
        if _TOKEN.fullmatch(value) is None:
            self._problem(f"value of auth-param {key!r} should be quoted", start)
        return value

    def _quoted(self, key: str, start: int) -> str | None:
        """quoted-string (RFC 9110 §5.6.4) opening at start, unescaped."""
        chunks: list[str] = []
        pos = start + 1
        while True:
            end = self._past(_QDTEXT, pos)
            chunks.append(self.text[pos:end])
            pos = end
            if pos >= self.n or (self.text[pos] == "\\" and pos + 1 >= self.n):
                self._problem(f"unterminated quoted string for {key!r}", start)
                self.pos = self.n  # nothing after an open quote can be trusted
                return None
            if self.text[pos] == '"':
                self.pos = pos + 1
                return "".join(chunks)
            # quoted-pair: the backslash only protects the next character.
            chunks.append(self.text[pos + 1])
            pos += 2

    # -- recovery ---------------------------------------------------------------

    def _end_of_element(self, what: str) -> None:
        """After an element only OWS, then a comma or the end, may follow."""
        pos = self._ows(self.pos)
        self.pos = pos
        if pos < self.n and self.text[pos] != ",":
            self._problem(f"unexpected text after {what}", pos)
            self._skip_element(pos)

    def _skip_element(self, pos: int) -> None:
        """Move to the next comma outside a quoted string, or to the end."""
        while True:
            pos = self._past(_TO_COMMA_OR_QUOTE, pos)
            if pos >= self.n or self.text[pos] == ",":
                self.pos = pos
                return
            pos = self._past_quoted(pos)

    def _past_quoted(self, start: int) -> int:
        """Index just after the quoted-string opening at start (or the end)."""
        pos = start + 1
        while True:
            pos = self._past(_QDTEXT, pos)
            if pos >= self.n:
                return self.n
            if self.text[pos] == '"':
                return pos + 1
            pos = min(pos + 2, self.n)  # skip a quoted-pair

    def _ows(self, pos: int) -> int:
        return self._past(_OWS, pos)

    def _past(self, run: re.Pattern[str], pos: int) -> int:
        """End of the (possibly empty) run of `run` characters starting at pos."""
        match = run.match(self.text, pos)
        return pos if match is None else match.end()

    def _problem(self, message: str, at: int) -> None:
        if self.problems.full:
            self.problems.dropped += 1  # don't pay for formatting what is dropped
            return
        excerpt = self.text[at : at + _EXCERPT]
        if self.n - at > _EXCERPT:
            excerpt += "…"
        where = f"offset {at}"
        if self.number > 1:
            where += f" of field value {self.number}"
        self.problems.add(f"{message} at {where}: {excerpt!r}")
