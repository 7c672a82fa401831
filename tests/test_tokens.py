"""Tests for authdiag.tokens: unverified JWT inspection."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from authdiag.tokens import JwtInspection, inspect_jwt, looks_like_jwt

KEY = "test-key-not-a-secret-0123456789abcdef"


def segment(value: Any) -> str:
    """A base64url segment without padding, as RFC 7515 §2 spells it."""
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hand_built(claims: Any, header: Any = None) -> str:
    """A token with whatever claims, including ones pyjwt would never write."""
    header = {"alg": "HS256", "typ": "JWT"} if header is None else header
    return f"{segment(header)}.{segment(claims)}.c2lnbmF0dXJl"


def hs256(claims: dict[str, Any], **headers: Any) -> str:
    return jwt.encode(claims, KEY, algorithm="HS256", headers=headers or None)


# --- well-formed tokens -------------------------------------------------------


def test_an_hs256_token_gives_its_header_and_typed_claims() -> None:
    token = hs256(
        {
            "iss": "https://idp.example",
            "sub": "user-1",
            "aud": ["api", "admin"],
            "exp": 1_700_000_000,
            "nbf": 1_699_999_000,
            "iat": 1_699_999_000.5,
            "client_id": "cli",
            "token_use": "access",
        },
        kid="key-7",
    )
    got = inspect_jwt(token)
    assert got.decodable
    assert got.problems == ()
    assert (got.alg, got.kid, got.typ) == ("HS256", "key-7", "JWT")
    assert (got.exp, got.nbf, got.iat) == (
        1_700_000_000,
        1_699_999_000,
        1_699_999_000.5,
    )
    assert got.audiences == ("api", "admin")
    assert (got.issuer, got.subject) == ("https://idp.example", "user-1")
    assert (got.client_id, got.token_use) == ("cli", "access")
    assert got.claims["sub"] == "user-1"
    assert not got.unsigned


def test_a_single_string_audience_becomes_a_one_tuple() -> None:
    assert inspect_jwt(hs256({"aud": "api"})).audiences == ("api",)


def test_absent_claims_stay_none_without_problems() -> None:
    got = inspect_jwt(hs256({}))
    assert got.problems == ()
    assert got.exp is None and got.audiences is None and got.scopes is None
    assert got.client_id is None and got.cnf_thumbprint is None


def test_an_alg_none_token_is_unsigned_and_still_readable() -> None:
    token = jwt.encode({"sub": "x"}, "", algorithm="none")
    got = inspect_jwt(token)
    assert got.unsigned
    assert got.decodable
    assert got.subject == "x"


def test_alg_none_is_recognised_in_any_case() -> None:
    assert inspect_jwt(hand_built({}, {"alg": "NoNe"})).unsigned


def test_a_header_without_alg_is_reported() -> None:
    got = inspect_jwt(hand_built({}, {"typ": "JWT"}))
    assert got.decodable
    assert any("no alg" in p for p in got.problems)


def test_a_space_separated_scope_string_is_split() -> None:
    assert inspect_jwt(hs256({"scope": "read  write"})).scopes == ("read", "write")


def test_an_azure_scp_string_is_split() -> None:
    got = inspect_jwt(hs256({"scp": "User.Read Mail.Read"}))
    assert got.scopes == ("User.Read", "Mail.Read")


def test_an_okta_scp_list_is_kept_as_a_tuple() -> None:
    assert inspect_jwt(hand_built({"scp": ["a", "b"]})).scopes == ("a", "b")


def test_scope_wins_over_scp_when_both_are_present() -> None:
    assert inspect_jwt(hs256({"scope": "a", "scp": ["b"]})).scopes == ("a",)


def test_azp_stands_in_for_a_missing_client_id() -> None:
    assert inspect_jwt(hs256({"azp": "web-app"})).client_id == "web-app"


def test_client_id_wins_over_azp() -> None:
    assert inspect_jwt(hs256({"client_id": "a", "azp": "b"})).client_id == "a"


def test_the_certificate_thumbprint_is_read_from_cnf() -> None:
    got = inspect_jwt(
        hs256({"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}})
    )
    assert got.cnf_thumbprint == "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"


# --- wrong-typed claims: problems, not exceptions -----------------------------


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"exp": "tomorrow"}, "claim exp is a string, not a number"),
        ({"exp": "1700000000"}, "claim exp is a string, not a number"),
        ({"exp": None}, "claim exp is null, not a number"),
        ({"exp": True}, "claim exp is a boolean, not a number"),
        ({"nbf": [1]}, "claim nbf is a list, not a number"),
        ({"iat": {}}, "claim iat is an object, not a number"),
        ({"aud": 5}, "claim aud is a number, not a string or list of strings"),
        (
            {"aud": ["a", 5]},
            "claim aud is a list holding a number, not a string or list of strings",
        ),
        ({"scope": 7}, "claim scope is a number, not a string or list of strings"),
        ({"iss": 1}, "claim iss is a number, not a string"),
        ({"sub": None}, "claim sub is null, not a string"),
        ({"client_id": False}, "claim client_id is a boolean, not a string"),
        ({"cnf": "x"}, "claim cnf is a string, not a JSON object"),
        (
            {"cnf": {"x5t#S256": 3}},
            "claim cnf member x5t#S256 is a number, not a string",
        ),
    ],
)
def test_a_wrong_typed_claim_becomes_a_named_problem(
    claims: dict[str, Any], problem: str
) -> None:
    got = inspect_jwt(hand_built(claims))
    assert got.decodable
    assert problem in got.problems


def test_a_wrong_typed_exp_leaves_exp_none_and_other_claims_readable() -> None:
    got = inspect_jwt(hand_built({"exp": "tomorrow", "sub": "u"}))
    assert got.exp is None
    assert got.subject == "u"


def test_a_boolean_exp_is_not_taken_for_the_number_one() -> None:
    assert inspect_jwt(hand_built({"exp": True})).exp is None


def test_a_wrong_typed_header_kid_is_a_problem_not_a_lost_header() -> None:
    got = inspect_jwt(hand_built({}, {"alg": "RS256", "kid": 12}))
    assert got.alg == "RS256"
    assert got.kid is None
    assert "header kid is a number, not a string" in got.problems


def test_an_overflowing_exp_is_not_a_finite_number() -> None:
    token = f"{segment({'alg': 'HS256'})}.{segment(b'{"exp": 1e999}')}.x"
    got = inspect_jwt(token)
    assert got.exp is None
    assert "claim exp is not a finite number" in got.problems


def test_nan_in_the_payload_is_not_json() -> None:
    token = f"{segment({'alg': 'HS256'})}.{segment(b'{"exp": NaN}')}.x"
    got = inspect_jwt(token)
    assert not got.decodable
    assert "payload is not valid JSON" in got.problems


# --- undecodable tokens -------------------------------------------------------


def test_two_segments_are_not_a_jws() -> None:
    got = inspect_jwt("eyJhbGciOiJIUzI1NiJ9.e30")
    assert not got.decodable
    assert got.problems == ("token has 2 segments, a JWS has 3",)


def test_one_segment_is_counted_in_the_singular() -> None:
    assert inspect_jwt("opaque-token").problems == ("token has 1 segment, a JWS has 3",)


def test_five_segments_are_reported_as_an_encrypted_jwe() -> None:
    header = segment({"alg": "RSA-OAEP", "enc": "A256GCM"})
    got = inspect_jwt(f"{header}.a2V5.aXY.Y2lwaGVy.dGFn")
    assert not got.decodable
    assert got.problems == (
        "encrypted JWT (JWE): its claims cannot be read without the key",
    )
    assert got.alg == "RSA-OAEP"
    assert got.claims == {}


def test_a_header_outside_the_base64url_alphabet_is_reported() -> None:
    got = inspect_jwt(f"eyJ*!.{segment({'sub': 'u'})}.x")
    assert not got.decodable
    assert "header is not valid base64url" in got.problems
    assert got.subject == "u"


def test_a_payload_with_impossible_base64_length_is_reported() -> None:
    # Five base64 characters can never be a whole number of bytes.
    got = inspect_jwt(f"{segment({'alg': 'HS256'})}.abcde.x")
    assert not got.decodable
    assert "payload is not valid base64url" in got.problems
    assert got.alg == "HS256"


def test_a_payload_that_is_not_json_is_reported() -> None:
    got = inspect_jwt(hand_built(b"not json"))
    assert "payload is not valid JSON" in got.problems
    assert not got.decodable


def test_a_payload_that_is_not_utf8_is_reported_as_not_json() -> None:
    got = inspect_jwt(hand_built(b'{"sub": "\xff"}'))
    assert "payload is not valid JSON" in got.problems


def test_a_payload_that_is_a_json_list_is_not_an_object() -> None:
    got = inspect_jwt(hand_built([1, 2]))
    assert not got.decodable
    assert "payload is a list, not a JSON object" in got.problems


def test_a_header_that_is_a_json_string_is_not_an_object() -> None:
    got = inspect_jwt(hand_built({}, "HS256"))
    assert not got.decodable
    assert "header is a string, not a JSON object" in got.problems


def test_an_empty_payload_segment_is_reported() -> None:
    got = inspect_jwt(f"{segment({'alg': 'HS256'})}..x")
    assert not got.decodable
    assert "payload is empty" in got.problems


def test_a_one_megabyte_token_is_inspected_without_crashing() -> None:
    claims = {"sub": "u", "blob": "x" * 1_000_000}
    got = inspect_jwt(hs256(claims))
    assert got.decodable
    assert got.subject == "u"


def test_a_deeply_nested_payload_is_reported_not_raised() -> None:
    got = inspect_jwt(hand_built(b"[" * 200_000 + b"]" * 200_000))
    assert not got.decodable
    assert "payload is not valid JSON" in got.problems


@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    got = inspect_jwt(text)
    assert isinstance(got, JwtInspection)
    assert got.decodable or got.problems


@given(
    st.dictionaries(
        st.text(max_size=10),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
            lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
            max_leaves=10,
        ),
    )
)
def test_arbitrary_claims_never_raise(claims: dict[str, Any]) -> None:
    raw = json.dumps(claims).encode()
    got = inspect_jwt(hand_built(raw))
    assert isinstance(got.problems, tuple)


@given(st.dictionaries(st.sampled_from(["sub", "iss", "aud", "exp"]), st.text()))
def test_the_signature_segment_never_appears_in_the_repr(
    claims: dict[str, str],
) -> None:
    token = hs256(claims)
    signature = token.rsplit(".", 1)[1]
    assert signature not in repr(inspect_jwt(token))


def test_claims_are_left_out_of_the_repr() -> None:
    assert "secret-person" not in repr(inspect_jwt(hs256({"name": "secret-person"})))


# --- looks_like_jwt -----------------------------------------------------------


def test_a_real_token_looks_like_a_jwt() -> None:
    assert looks_like_jwt(hs256({"sub": "u"}))


def test_an_unsigned_token_with_an_empty_signature_looks_like_a_jwt() -> None:
    assert looks_like_jwt(jwt.encode({}, "", algorithm="none"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc.def.ghi",  # does not start with a JSON object's base64url
        "eyJhbGciOiJIUzI1NiJ9.e30",  # two segments
        "eyJ.a.b.c.d",  # JWE
        "eyJhbGciOiJIUzI1NiJ9.e30.sig+/=",  # base64, not base64url
        "eyJhbGciOiJIUzI1NiJ9.e30.sig\n",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
    ],
)
def test_other_strings_do_not_look_like_a_jwt(text: str) -> None:
    assert not looks_like_jwt(text)


@given(st.text())
def test_looks_like_jwt_never_raises(text: str) -> None:
    assert looks_like_jwt(text) in (True, False)


def test_a_token_pyjwt_refuses_is_not_decodable_and_says_why() -> None:
    # The header and payload read fine; the signature segment is not base64url,
    # so a server built on pyjwt would refuse the token before any claim check.
    good = jwt.encode({"sub": "alice"}, "k" * 32, algorithm="HS256")
    header, payload, _ = good.split(".")
    got = inspect_jwt(f"{header}.{payload}.!!")
    assert not got.decodable
    assert any(p.startswith("pyjwt refuses it") for p in got.problems)
    assert got.subject == "alice"
