"""Tests for authdiag.challenges: WWW-Authenticate parsing (RFC 9110 §11)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authdiag.challenges import (
    MAX_PROBLEMS,
    Challenge,
    Challenges,
    parse_challenges,
)

C = Challenge

WELL_FORMED: list[object] = [
    pytest.param(
        ["Negotiate abc=="], [C("Negotiate", "abc==")], id="negotiate-token68"
    ),
    pytest.param(
        ["NTLM TlRMTVNTUAACAAAADAAMADgAAAAFgomi"],
        [C("NTLM", "TlRMTVNTUAACAAAADAAMADgAAAAFgomi")],
        id="ntlm-token68",
    ),
    pytest.param(
        ["Negotiate a+b/c-d.e_f~g="],
        [C("Negotiate", "a+b/c-d.e_f~g=")],
        id="token68-every-special-character",
    ),
    pytest.param(['Basic realm="x"'], [C("Basic", params={"realm": "x"})], id="basic"),
    pytest.param(
        [
            'Bearer realm="a", error="invalid_token", '
            'error_description="The access token expired"'
        ],
        [
            C(
                "Bearer",
                params={
                    "realm": "a",
                    "error": "invalid_token",
                    "error_description": "The access token expired",
                },
            )
        ],
        id="bearer-rfc6750",
    ),
    pytest.param(
        [
            'Digest realm="r", qop="auth,auth-int", nonce="n1", opaque="o1", '
            "algorithm=SHA-256, stale=true"
        ],
        [
            C(
                "Digest",
                params={
                    "realm": "r",
                    "qop": "auth,auth-int",
                    "nonce": "n1",
                    "opaque": "o1",
                    "algorithm": "SHA-256",
                    "stale": "true",
                },
            )
        ],
        id="digest-comma-inside-quotes",
    ),
    pytest.param(
        [
            'Newauth realm="apps", type=1, title="Login to \\"apps\\"", '
            'Basic realm="simple"'
        ],
        [
            C(
                "Newauth",
                params={"realm": "apps", "type": "1", "title": 'Login to "apps"'},
            ),
            C("Basic", params={"realm": "simple"}),
        ],
        id="rfc9110-two-challenges-one-line",
    ),
    pytest.param(
        ['Basic realm="a"', "Negotiate", 'Bearer realm="b"'],
        [
            C("Basic", params={"realm": "a"}),
            C("Negotiate"),
            C("Bearer", params={"realm": "b"}),
        ],
        id="several-field-lines",
    ),
    pytest.param(
        ['bASIC REALM="x", Charset="UTF-8"'],
        [C("bASIC", params={"realm": "x", "charset": "UTF-8"})],
        id="param-names-lower-cased-scheme-kept",
    ),
    pytest.param(
        ['Basic realm="a\\\\b\\"c\\d"'],
        [C("Basic", params={"realm": 'a\\b"cd'})],
        id="quoted-pairs-unescaped",
    ),
    pytest.param(
        ['Basic realm="", charset=UTF-8'],
        [C("Basic", params={"realm": "", "charset": "UTF-8"})],
        id="empty-quoted-value",
    ),
    pytest.param(
        ["Basic realm=foo"], [C("Basic", params={"realm": "foo"})], id="unquoted"
    ),
    pytest.param(
        ['Basic realm = "x" ,charset\t=\tUTF-8'],
        [C("Basic", params={"realm": "x", "charset": "UTF-8"})],
        id="bad-whitespace-around-equals",
    ),
    pytest.param(
        [',, Basic realm="x" ,, , Negotiate ,'],
        [C("Basic", params={"realm": "x"}), C("Negotiate")],
        id="empty-list-elements",
    ),
    pytest.param(
        ['Negotiate YIIB==, Basic realm="x"'],
        [C("Negotiate", "YIIB=="), C("Basic", params={"realm": "x"})],
        id="token68-then-challenge",
    ),
    pytest.param(["Basic"], [C("Basic")], id="bare-scheme"),
    pytest.param(["Basic   "], [C("Basic")], id="bare-scheme-trailing-space"),
    pytest.param([], [], id="no-field-lines"),
    pytest.param([""], [], id="empty-value"),
    pytest.param([" \t ", ",", ""], [], id="whitespace-and-commas-only"),
]


@pytest.mark.parametrize(("values", "expected"), WELL_FORMED)
def test_well_formed_values_parse_to_the_expected_challenges_without_problems(
    values: list[str], expected: list[Challenge]
) -> None:
    result = parse_challenges(values)
    assert result.challenges == tuple(expected)
    assert result.problems == ()


MALFORMED: list[object] = [
    pytest.param(
        ['Basic realm="a", REALM="b", charset="UTF-8"'],
        [
            C(
                "Basic",
                params={"realm": "a", "charset": "UTF-8"},
                duplicate_params=("realm",),
            )
        ],
        "'realm' repeated",
        id="duplicate-param-first-wins",
    ),
    pytest.param(
        ['Basic charset=UTF-8, realm="never closed, Bearer realm=b'],
        [C("Basic", params={"charset": "UTF-8"})],
        "unterminated quoted string",
        id="unterminated-quote",
    ),
    pytest.param(
        ['Basic realm="x\\'],
        [C("Basic")],
        "unterminated quoted string",
        id="backslash-at-end",
    ),
    pytest.param(
        ['Basic realm=, charset="UTF-8"'],
        [C("Basic", params={"charset": "UTF-8"})],
        "'realm' has no value",
        id="missing-value-before-comma",
    ),
    pytest.param(
        ['Digest nonce="n", realm='],
        [C("Digest", params={"nonce": "n"})],
        "'realm' has no value",
        id="missing-value-at-end",
    ),
    pytest.param(
        ['Digest realm, nonce="n"'],
        [C("Digest", params={"nonce": "n"})],
        "'realm' has no '='",
        id="bare-word-before-a-param-is-a-param-without-value",
    ),
    pytest.param(
        ['realm="x", Basic realm="y"'],
        [C("Basic", params={"realm": "y"})],
        "before any auth-scheme",
        id="param-before-scheme",
    ),
    pytest.param(["="], [], "unexpected character", id="lone-equals"),
    pytest.param(
        ['@@ "a,b", Basic realm="x"'],
        [C("Basic", params={"realm": "x"})],
        "unexpected character",
        id="garbage-skipped-to-comma-outside-quotes",
    ),
    pytest.param(
        ['Basic realm="x" junk, Bearer'],
        [C("Basic", params={"realm": "x"}), C("Bearer")],
        "unexpected text after auth-param 'realm'",
        id="garbage-after-value",
    ),
    pytest.param(
        ['Bäsic realm="x", Bearer'],
        [C("Bearer")],
        "unreadable auth-scheme",
        id="non-ascii-scheme",
    ),
    pytest.param(
        ["Digest nonce=abc==, realm=r"],
        [C("Digest", params={"nonce": "abc==", "realm": "r"})],
        "should be quoted",
        id="unquoted-non-token-value-kept",
    ),
    pytest.param(
        ["Basic realm=@"],
        [C("Basic")],
        "unreadable value",
        id="unreadable-value",
    ),
    pytest.param(
        ["Negotiate", 'realm="x"'],
        [C("Negotiate")],
        "before any auth-scheme at offset 0 of field value 2",
        id="params-do-not-continue-across-field-lines",
    ),
]


@pytest.mark.parametrize(("values", "expected", "problem"), MALFORMED)
def test_malformed_values_keep_what_parsed_and_report_a_problem(
    values: list[str], expected: list[Challenge], problem: str
) -> None:
    result = parse_challenges(values)
    assert result.challenges == tuple(expected)
    assert len(result.problems) == 1
    assert problem in result.problems[0]


def test_a_problem_quotes_at_most_forty_characters_of_the_input() -> None:
    result = parse_challenges(["Basic realm=" + "@" * 1000])
    (problem,) = result.problems
    assert "@" * 40 + "…" in problem
    assert "@" * 41 not in problem
    assert len(problem) < 120


def test_problems_are_capped_with_a_count_of_the_rest() -> None:
    result = parse_challenges(["Basic a=1, realm=, " * 50])
    assert len(result.problems) == MAX_PROBLEMS + 1
    assert result.problems[-1] == f"... and {50 - MAX_PROBLEMS} more problems"


def test_a_repeated_param_is_listed_once_however_often_it_repeats() -> None:
    result = parse_challenges(['Basic realm="a", realm="b", realm="c"'])
    assert result.challenges == (
        C("Basic", params={"realm": "a"}, duplicate_params=("realm",)),
    )
    assert len(result.problems) == 2


def test_a_bare_string_is_read_as_one_field_line() -> None:
    result = parse_challenges('Basic realm="x"')  # not iterated character by character
    assert result.challenges == (C("Basic", params={"realm": "x"}),)


def test_a_non_text_field_value_is_reported_and_the_rest_still_parsed() -> None:
    result = parse_challenges([b"Basic", "Bearer"])  # type: ignore[list-item]
    assert result.schemes == ("bearer",)
    assert result.problems == ("field value 1 is bytes, not text",)


def test_find_matches_the_scheme_case_insensitively_and_returns_the_first() -> None:
    result = parse_challenges(['basic realm="a", Bearer, BASIC realm="b"'])
    found = result.find("Basic")
    assert found is not None
    assert found.param("realm") == "a"
    assert result.find("digest") is None


def test_schemes_are_lower_cased_and_deduplicated_in_order() -> None:
    result = parse_challenges(['Bearer, basic realm="a"', 'BASIC realm="b", Negotiate'])
    assert result.schemes == ("bearer", "basic", "negotiate")


def test_param_lookup_ignores_case_and_scheme_key_is_lower_case() -> None:
    (challenge,) = parse_challenges(['NeWaUtH Realm="apps"']).challenges
    assert challenge.param("REALM") == "apps"
    assert challenge.param("title") is None
    assert challenge.scheme == "NeWaUtH"
    assert challenge.scheme_key == "newauth"


def test_challenges_are_truthy_only_when_there_is_a_challenge() -> None:
    assert not parse_challenges(["=, ,"])
    assert parse_challenges(["Basic"])


# -- properties -------------------------------------------------------------

# Characters that steer the scanner into its interesting branches.
_GRAMMAR_TEXT = st.text(alphabet='BasicNegotiate realm="x\\, \t=/+@é', max_size=60)


def _assert_sane(result: Challenges) -> None:
    assert isinstance(result, Challenges)
    assert len(result.problems) <= MAX_PROBLEMS + 1
    for challenge in result.challenges:
        assert challenge.scheme
        assert challenge.token68 is None or not challenge.params
        assert all(name == name.lower() for name in challenge.params)
        assert set(challenge.duplicate_params) <= set(challenge.params)


@given(st.text())
def test_arbitrary_text_never_raises(value: str) -> None:
    _assert_sane(parse_challenges([value]))


@given(st.lists(st.one_of(st.text(), _GRAMMAR_TEXT), max_size=8))
def test_arbitrary_lists_of_field_lines_never_raise(values: list[str]) -> None:
    _assert_sane(parse_challenges(values))


_TCHARS = (
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_TOKEN = st.text(alphabet=_TCHARS, min_size=1, max_size=8)
_TOKEN68 = st.builds(
    lambda body, pad: body + "=" * pad,
    st.text(alphabet="abcXYZ019-._~+/", min_size=1, max_size=12),
    st.integers(0, 2),
)
_QUOTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def _challenge_and_text(draw: Callable[..., object]) -> tuple[Challenge, str]:
    scheme = draw(_TOKEN)
    assert isinstance(scheme, str)
    if draw(st.booleans()):
        token68 = draw(_TOKEN68)
        assert isinstance(token68, str)
        return C(scheme, token68), f"{scheme} {token68}"
    names = draw(st.lists(_TOKEN, max_size=4, unique_by=str.lower))
    assert isinstance(names, list)
    params: dict[str, str] = {}
    parts: list[str] = []
    for name in names:
        value = draw(st.one_of(_TOKEN, _QUOTABLE))
        assert isinstance(value, str)
        params[name.lower()] = value
        bare = value and all(char in _TCHARS for char in value) and draw(st.booleans())
        parts.append(f"{name}={value if bare else _quote(value)}")
    text = f"{scheme} {', '.join(parts)}" if parts else scheme
    return C(scheme, params=params), text


@given(st.lists(_challenge_and_text(), max_size=5))
def test_serialized_challenges_parse_back_to_the_same_challenges(
    generated: list[tuple[Challenge, str]],
) -> None:
    result = parse_challenges([", ".join(text for _, text in generated)])
    assert result.challenges == tuple(challenge for challenge, _ in generated)
    assert result.problems == ()


# -- performance --------------------------------------------------------------


def _best_time(value: str, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        parse_challenges([value])
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize(
    ("prefix", "unit"),
    [
        pytest.param("", 'Basic realm="x", ', id="many-challenges"),
        pytest.param("Digest ", 'a="b\\"c", ', id="many-params"),
        pytest.param('Basic realm="', "\\\\", id="long-escaped-string"),
        pytest.param("", 'realm=, @ "a,b", ', id="many-problems"),
        pytest.param("Negotiate ", "x" * 64, id="long-token68"),
    ],
)
def test_parse_time_grows_linearly_with_input_size(prefix: str, unit: str) -> None:
    small = prefix + unit * 1_000
    large = prefix + unit * 10_000
    _best_time(small, repeats=1)  # warm up
    ratio = _best_time(large) / _best_time(small)
    # Ten times the input: linear gives ~10, quadratic would give ~100.
    assert ratio < 30
