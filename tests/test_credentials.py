"""Tests for authdiag.credentials: Authorization values, Basic, API keys, cookies."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authdiag.credentials import (
    AuthorizationCredential,
    BasicCredential,
    BasicShape,
    Location,
    PlacedCredential,
    Shape,
    find_placed_credentials,
    is_session_cookie_name,
    parse_authorization,
    parse_basic,
)

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
OPAQUE = "ya29.a0AfH6SMBx-opaque_token~value+/=="


def b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def assert_secrets_hidden(obj: object, *secrets: str) -> None:
    """Neither repr() nor str() may show a secret (nested objects included)."""
    for text in (repr(obj), str(obj)):
        for secret in secrets:
            assert secret not in text


# --- parse_authorization: shapes ---------------------------------------------

S = Shape

# id, value, scheme, problems, bearer_token
SHAPE_CASES: list[tuple[str, str, str, tuple[Shape, ...], str | None]] = [
    ("well-formed bearer", f"Bearer {JWT}", "bearer", (), JWT),
    ("lower-case scheme", f"bearer {OPAQUE}", "bearer", (), OPAQUE),
    ("upper-case scheme", f"BEARER {OPAQUE}", "bearer", (), OPAQUE),
    ("several spaces after scheme", f"Bearer    {JWT}", "bearer", (), JWT),
    ("tab after scheme", f"Bearer\t{JWT}", "bearer", (), JWT),
    ("surrounding whitespace", f"  Bearer {JWT}  ", "bearer", (), JWT),
    ("empty", "", "", (S.EMPTY,), None),
    ("only spaces", "   \t ", "", (S.EMPTY,), None),
    ("only a newline", "\r\n", "", (S.EMPTY, S.CONTROL_CHARACTER), None),
    ("bare jwt", JWT, "", (S.NO_SCHEME,), JWT),
    ("bare hex-ish token", "abc123def456", "", (S.NO_SCHEME,), "abc123def456"),
    ("bare long word", "a" * 24, "", (S.NO_SCHEME,), "a" * 24),
    ("bare token with padding", "c2VjcmV0==", "", (S.NO_SCHEME,), "c2VjcmV0=="),
    ("bare uuid", "550e8400-e29b-41d4-a716-446655440000", "", (S.NO_SCHEME,),
     "550e8400-e29b-41d4-a716-446655440000"),
    ("first word with dots", f"{JWT} trailing", "", (S.NO_SCHEME, S.INNER_WHITESPACE),
     f"{JWT} trailing"),
    ("header name pasted in", f"Authorization: Bearer {JWT}", "", (S.NO_SCHEME,), None),
    ("colon after scheme", f"Bearer: {JWT}", "", (S.NO_SCHEME,), None),
    ("Token scheme", "Token abc", "token", (), None),
    ("JWT scheme", f"JWT {JWT}", "jwt", (), None),
    ("Api-Key scheme", "Api-Key abc", "api-key", (), None),
    ("lone unknown scheme", "Token", "token", (S.EMPTY_CREDENTIAL,), None),
    ("doubled bearer", f"Bearer Bearer {JWT}", "bearer", (S.DOUBLED_SCHEME,), JWT),
    ("doubled, mixed case", f"Bearer bearer {JWT}", "bearer", (S.DOUBLED_SCHEME,),
     JWT),
    ("tripled bearer", f"Bearer Bearer Bearer {JWT}", "bearer", (S.DOUBLED_SCHEME,),
     JWT),
    ("doubled with nothing after", "Bearer Bearer", "bearer",
     (S.DOUBLED_SCHEME, S.EMPTY_CREDENTIAL), None),
    ("token starting like the scheme", "Bearer Bearerish", "bearer", (),
     "Bearerish"),
    ("doubled unknown scheme", "Token Token abc", "token", (S.DOUBLED_SCHEME,), None),
    ("bearer alone", "Bearer", "bearer", (S.EMPTY_CREDENTIAL,), None),
    ("bearer and spaces", "Bearer   ", "bearer", (S.EMPTY_CREDENTIAL,), None),
    ("digest alone", "Digest", "digest", (S.EMPTY_CREDENTIAL,), None),
    ("quoted token", f'Bearer "{JWT}"', "bearer", (S.QUOTED,), JWT),
    ("single-quoted token", f"Bearer '{JWT}'", "bearer", (S.QUOTED,), JWT),
    ("whole value quoted", f'"Bearer {JWT}"', "bearer", (S.QUOTED,), JWT),
    ("whole bare token quoted", f'"{JWT}"', "", (S.NO_SCHEME, S.QUOTED), JWT),
    ("lone short word quoted", '"abc"', "", (S.NO_SCHEME, S.QUOTED), "abc"),
    ("empty quotes", '""', "", (S.EMPTY, S.QUOTED), None),
    ("quoted empty token", 'Bearer ""', "bearer", (S.EMPTY_CREDENTIAL, S.QUOTED),
     None),
    ("space inside token", "Bearer abc def", "bearer", (S.INNER_WHITESPACE,),
     "abc def"),
    ("tab inside token", "Bearer abc\tdef", "bearer", (S.INNER_WHITESPACE,),
     "abc\tdef"),
    ("trailing newline", f"Bearer {JWT}\n", "bearer", (S.CONTROL_CHARACTER,), JWT),
    ("trailing CRLF", f"Bearer {JWT}\r\n", "bearer", (S.CONTROL_CHARACTER,), JWT),
    ("CRLF inside token", "Bearer abc\r\ndef", "bearer", (S.CONTROL_CHARACTER,),
     "abc\r\ndef"),
    ("NUL inside token", "Bearer abc\x00def", "bearer", (S.CONTROL_CHARACTER,),
     "abc\x00def"),
    ("newline as separator", f"Bearer\n{JWT}", "bearer", (S.CONTROL_CHARACTER,),
     JWT),
    ("token response after bearer", '{"access_token": "tok-1", "expires_in": 3600}',
     "", (S.NO_SCHEME, S.JSON), "tok-1"),
    ("bearer and token response", 'Bearer {"access_token": "tok-1", "scope": "a"}',
     "bearer", (S.JSON,), "tok-1"),
    ("bearer and id_token response", 'Bearer {"id_token": "tok-2"}', "bearer",
     (S.JSON,), "tok-2"),
    ("bearer and truncated json", 'Bearer {"access_tok', "bearer", (S.JSON,),
     '{"access_tok'),
    ("bare json without a token", '{"error": "x"}', "", (S.NO_SCHEME, S.JSON), None),
    ("bare json array", '["a", "b"]', "", (S.NO_SCHEME, S.JSON), None),
    ("percent-encoded token", "Bearer abc%3D", "bearer", (S.BAD_TOKEN68,),
     "abc%3D"),
    ("padding in the middle", "Bearer ab=cd", "bearer", (S.BAD_TOKEN68,), "ab=cd"),
    ("only padding", "Bearer ==", "bearer", (S.BAD_TOKEN68,), "=="),
    ("comma after token", "Bearer abc,", "bearer", (S.BAD_TOKEN68,), "abc,"),
    ("non-ascii token", "Bearer t\u00f6ken", "bearer", (S.BAD_TOKEN68,),
     "t\u00f6ken"),
    ("several shapes at once", 'Bearer Bearer "ab%c def"\n', "bearer",
     (S.DOUBLED_SCHEME, S.QUOTED, S.INNER_WHITESPACE, S.CONTROL_CHARACTER,
      S.BAD_TOKEN68), "ab%c def"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "scheme", "problems", "token"),
    [case[1:] for case in SHAPE_CASES],
    ids=[case[0] for case in SHAPE_CASES],
)
def test_authorization_values_are_classified_by_scheme_shape_and_token(
    value: str, scheme: str, problems: tuple[Shape, ...], token: str | None
) -> None:
    parsed = parse_authorization(value)

    assert parsed.scheme == scheme
    assert parsed.problems == problems
    assert parsed.bearer_token == token


@pytest.mark.parametrize(
    ("value", "raw_scheme"),
    [("bEaReR x", "bEaReR"), ("Token abc", "Token"), (JWT, ""), ("", "")],
)
def test_the_scheme_is_lower_cased_but_also_kept_as_sent(
    value: str, raw_scheme: str
) -> None:
    parsed = parse_authorization(value)

    assert parsed.raw_scheme == raw_scheme
    assert parsed.scheme == raw_scheme.lower()


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        (f"Bearer {JWT}", JWT),
        ("Token  abc def ", "abc def"),
        ("Custom a=1, b=2", "a=1, b=2"),
        (JWT, JWT),
        (f"Bearer Bearer {JWT}", f"Bearer {JWT}"),
        ("", ""),
    ],
)
def test_the_secret_is_everything_after_the_scheme(value: str, secret: str) -> None:
    assert parse_authorization(value).secret == secret


def test_unknown_schemes_have_no_params_and_no_token() -> None:
    parsed = parse_authorization('Custom key="a, b"')

    assert parsed.scheme == "custom"
    assert parsed.params == {}
    assert parsed.bearer_token is None
    assert parsed.basic is None


@pytest.mark.parametrize(
    ("value", "scheme"),
    [
        ("NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==", "ntlm"),
        ("Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag==", "negotiate"),
    ],
)
def test_ntlm_and_negotiate_tokens_are_token68(value: str, scheme: str) -> None:
    parsed = parse_authorization(value)

    assert parsed.scheme == scheme
    assert parsed.problems == ()
    assert parsed.secret == value.split(" ", 1)[1]
    assert parsed.bearer_token is None


def test_ntlm_tokens_with_foreign_characters_are_bad_token68() -> None:
    assert parse_authorization("NTLM abc$def").problems == (Shape.BAD_TOKEN68,)


# --- parse_authorization: Basic ----------------------------------------------

# id, value, problems, user_id, password, basic problems
BASIC_FIELD_CASES: list[
    tuple[str, str, tuple[Shape, ...], str | None, str | None, tuple[BasicShape, ...]]
] = [
    ("well-formed", f"Basic {b64('alice:s3cret')}", (), "alice", "s3cret", ()),
    ("password with colons", f"Basic {b64('alice:a:b:c')}", (), "alice", "a:b:c", ()),
    ("doubled scheme", f"Basic Basic {b64('alice:pw1')}", (S.DOUBLED_SCHEME,),
     "alice", "pw1", ()),
    ("quoted", f'Basic "{b64("alice:pw1")}"', (S.QUOTED,), "alice", "pw1", ()),
    ("unencoded", "Basic alice:pw1", (S.BAD_TOKEN68,), "alice", "pw1",
     (BasicShape.NOT_ENCODED,)),
    ("empty", "Basic", (S.EMPTY_CREDENTIAL,), None, None, (BasicShape.NO_COLON,)),
    ("unpadded", "Basic YWxpY2U6cHc", (), "alice", "pw",
     (BasicShape.INVALID_BASE64,)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "problems", "user_id", "password", "basic_problems"),
    [case[1:] for case in BASIC_FIELD_CASES],
    ids=[case[0] for case in BASIC_FIELD_CASES],
)
def test_basic_fields_carry_the_decoded_credential(
    value: str,
    problems: tuple[Shape, ...],
    user_id: str | None,
    password: str | None,
    basic_problems: tuple[BasicShape, ...],
) -> None:
    parsed = parse_authorization(value)

    assert parsed.scheme == "basic"
    assert parsed.problems == problems
    assert parsed.basic is not None
    assert parsed.basic.user_id == user_id
    assert parsed.basic.password == password
    assert parsed.basic.problems == basic_problems
    assert parsed.bearer_token is None


def test_only_basic_fields_get_a_basic_credential() -> None:
    assert parse_authorization(f"Bearer {b64('alice:pw')}").basic is None
    assert parse_authorization(b64("alice:pw")).basic is None


# --- parse_basic -------------------------------------------------------------

B = BasicShape

# id, token68, user_id, password, problems
BASIC_CASES: list[
    tuple[str, str, str | None, str | None, tuple[BasicShape, ...]]
] = [
    ("well-formed", b64("alice:s3cret"), "alice", "s3cret", ()),
    ("rfc 7617 example", "QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin", "open sesame",
     ()),
    ("password with colons", b64("alice:pa:ss:word"), "alice", "pa:ss:word", ()),
    ("empty password", b64("alice:"), "alice", "", ()),
    ("utf-8 user-id", b64("j\u00fcrgen:pw"), "j\u00fcrgen", "pw", ()),
    ("latin-1 user-id", b64(b"j\xfcrgen:pw"), "j\u00fcrgen", "pw", (B.NOT_UTF8,)),
    ("latin-1 password", b64(b"alice:p\xe4ss"), "alice", "p\u00e4ss", (B.NOT_UTF8,)),
    ("no colon", b64("alice"), None, None, (B.NO_COLON,)),
    ("empty user-id", b64(":pw"), "", "pw", (B.EMPTY_USER,)),
    ("trailing newline from echo", b64("alice:pw\n"), "alice", "pw\n",
     (B.CONTROL_CHARACTER,)),
    ("control in user-id", b64("al\x01ice:pw"), "al\x01ice", "pw",
     (B.CONTROL_CHARACTER,)),
    ("tab in password", b64("alice:p\tw"), "alice", "p\tw", (B.CONTROL_CHARACTER,)),
    ("missing padding", b64("alice:pw12").rstrip("="), "alice", "pw12",
     (B.INVALID_BASE64,)),
    ("missing two padding", "YWxpY2U6cHc", "alice", "pw", (B.INVALID_BASE64,)),
    ("excess padding", b64("alice:pw") + "=", "alice", "pw", (B.INVALID_BASE64,)),
    ("base64url alphabet", "YWxpY2U6fn5-Pz8_", "alice", "~~~???",
     (B.INVALID_BASE64,)),
    ("space inside", "YWxp Y2U6cHc=", "alice", "pw", (B.INVALID_BASE64,)),
    ("garbage", "!!!", None, None, (B.INVALID_BASE64, B.NO_COLON)),
    ("sent unencoded", "alice:pw", "alice", "pw", (B.NOT_ENCODED,)),
    ("sent unencoded, colons", "alice:a:b", "alice", "a:b", (B.NOT_ENCODED,)),
    ("sent unencoded, no user", ":pw", "", "pw", (B.EMPTY_USER, B.NOT_ENCODED)),
    ("empty", "", None, None, (B.NO_COLON,)),
    ("surrounding whitespace", f"  {b64('alice:pw')} ", "alice", "pw", ()),
    ("several problems", b64(b"\xff:\n"), "\u00ff", "\n",
     (B.NOT_UTF8, B.CONTROL_CHARACTER)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("token68", "user_id", "password", "problems"),
    [case[1:] for case in BASIC_CASES],
    ids=[case[0] for case in BASIC_CASES],
)
def test_basic_credentials_are_decoded_and_split_at_the_first_colon(
    token68: str,
    user_id: str | None,
    password: str | None,
    problems: tuple[BasicShape, ...],
) -> None:
    basic = parse_basic(token68)

    assert basic.user_id == user_id
    assert basic.password == password
    assert basic.problems == problems


# --- auth-params: Digest and AWS SigV4 ---------------------------------------

DIGEST = (
    'Digest username="Mufasa", realm="http-auth@example.org", '
    'uri="/dir/index.html?a=1,b=2", algorithm=SHA-256, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, '
    'cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, '
    'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)


def test_digest_params_keep_commas_inside_quoted_strings() -> None:
    parsed = parse_authorization(DIGEST)

    assert parsed.scheme == "digest"
    assert parsed.problems == ()
    assert parsed.params["uri"] == "/dir/index.html?a=1,b=2"
    assert parsed.params["username"] == "Mufasa"
    assert parsed.params["realm"] == "http-auth@example.org"
    assert parsed.params["qop"] == "auth"
    assert parsed.params["nc"] == "00000001"
    assert parsed.params["algorithm"] == "SHA-256"
    assert parsed.params["response"].startswith("753927fa")
    assert set(parsed.params) == {
        "username", "realm", "uri", "algorithm", "nonce", "nc", "cnonce", "qop",
        "response", "opaque",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ('Username="a", REALM="r"', {"username": "a", "realm": "r"}),
        ('username="a",realm="r"', {"username": "a", "realm": "r"}),
        ('username = "a" , realm = r', {"username": "a", "realm": "r"}),
        (r'username="say \"hi\", ok"', {"username": 'say "hi", ok'}),
        ('username="unterminated, realm=x', {"username": "unterminated, realm=x"}),
        ('username="a", username="b"', {"username": "a"}),
        ('stray, username="a", ="x", realm=r', {"username": "a", "realm": "r"}),
        (",,, username=a,,", {"username": "a"}),
        ("username*=UTF-8''J%C3%A4s%C3%B8n", {"username*": "UTF-8''J%C3%A4s%C3%B8n"}),
        ('username=""', {"username": ""}),
    ],
)
def test_digest_params_are_tokenised_leniently(
    params: str, expected: dict[str, str]
) -> None:
    assert dict(parse_authorization(f"Digest {params}").params) == expected


def test_aws_sigv4_params_are_split_with_lower_cased_names() -> None:
    value = (
        "AWS4-HMAC-SHA256 "
        "Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/execute-api/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
    )

    parsed = parse_authorization(value)

    assert parsed.scheme == "aws4-hmac-sha256"
    assert parsed.raw_scheme == "AWS4-HMAC-SHA256"
    assert parsed.problems == ()
    assert dict(parsed.params) == {
        "credential": (
            "AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/execute-api/aws4_request"
        ),
        "signedheaders": "host;x-amz-date",
        "signature": (
            "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
        ),
    }


def test_aws_sigv4_params_without_spaces_after_commas_are_split_too() -> None:
    parsed = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-1/s3/aws4_request,"
        "SignedHeaders=host,Signature=abc"
    )

    assert parsed.params["signedheaders"] == "host"
    assert parsed.params["signature"] == "abc"


def test_params_stay_empty_for_token68_schemes() -> None:
    assert parse_authorization('Bearer realm="x"').params == {}


# --- secret safety -----------------------------------------------------------

SECRET_VALUES = [
    (f"Bearer {JWT}", JWT),
    (f"Bearer Bearer {JWT}", JWT),
    (f'Bearer "{JWT}"', JWT),
    (JWT, JWT),
    ("abc123def456", "abc123def456"),
    ('{"access_token": "tok-secret-1"}', "tok-secret-1"),
    ('Bearer {"access_token": "tok-secret-1"}', "tok-secret-1"),
    (f"Basic {b64('alice:hunter2-secret')}", "hunter2-secret"),
    (f"Basic {b64('alice:hunter2-secret')}", b64("alice:hunter2-secret")),
    ("Basic alice:hunter2-secret", "hunter2-secret"),
    (f"Basic {b64(b'alice:hunter2-s\xe9cret')}", "hunter2-s\u00e9cret"),
    (DIGEST, "753927fa0e85d155564e2e272a28d1802ca10daf"),
    ("AWS4-HMAC-SHA256 Credential=AKID/x, Signature=sig-secret-1", "sig-secret-1"),
    ("NTLM TlRMTVNTUAABAAAAB4II", "TlRMTVNTUAABAAAAB4II"),
    ("Token custom-secret-1", "custom-secret-1"),
]


def _held(parsed: AuthorizationCredential) -> str:
    """Every secret-bearing field, joined."""
    password = parsed.basic.password if parsed.basic else None
    fields = [parsed.secret, parsed.bearer_token, password, *parsed.params.values()]
    return "\n".join(f for f in fields if f is not None)


@pytest.mark.parametrize(("value", "secret"), SECRET_VALUES)
def test_the_repr_of_a_parsed_authorization_never_shows_the_secret(
    value: str, secret: str
) -> None:
    parsed = parse_authorization(value)

    assert secret in _held(parsed)  # the table is meaningful: the secret is kept
    assert_secrets_hidden(parsed, secret)
    assert_secrets_hidden(parsed.basic, secret)


@pytest.mark.parametrize(
    "token68",
    [b64("alice:hunter2-secret"), "alice:hunter2-secret", b64("alice:hunter2-secret")
     .rstrip("=")],
)  # fmt: skip
def test_the_repr_of_a_basic_credential_never_shows_the_password(token68: str) -> None:
    basic = parse_basic(token68)

    assert basic.password == "hunter2-secret"
    assert_secrets_hidden(basic, "hunter2-secret")


def test_basic_text_without_a_colon_is_not_kept_as_it_may_be_a_secret() -> None:
    basic = parse_basic(b64("sk_live_api_key_secret"))

    assert basic.user_id is None
    assert basic.password is None
    assert_secrets_hidden(basic, "sk_live_api_key_secret")


def test_the_repr_of_a_placed_credential_never_shows_the_value() -> None:
    found = find_placed_credentials(
        [("X-API-Key", "key-secret-1")], [("access_token", "tok-secret-2")]
    )

    assert [c.value for c in found] == ["key-secret-1", "tok-secret-2"]
    assert_secrets_hidden(found, "key-secret-1", "tok-secret-2")


passwords = st.text(st.characters(codec="utf-8")).map(lambda s: f"PW-SECRET-{s}")
user_ids = st.text(
    st.characters(exclude_characters=":", exclude_categories=["Cc", "Cs"]),
    min_size=1,
)


@given(user_ids, passwords)
def test_any_basic_credential_round_trips_without_showing_the_password(
    user_id: str, password: str
) -> None:
    value = f"Basic {b64(f'{user_id}:{password}')}"

    parsed = parse_authorization(value)

    assert parsed.basic is not None
    assert parsed.basic.user_id == user_id
    assert parsed.basic.password == password
    assert_secrets_hidden(parsed, "PW-SECRET-")


@given(st.from_regex(r"[A-Za-z0-9\-._~+/]*=*", fullmatch=True))
def test_any_well_formed_bearer_token_is_extracted_without_problems(
    tail: str,
) -> None:
    token = f"SECRET-{tail}"

    parsed = parse_authorization(f"Bearer {token}")

    assert parsed.problems == ()
    assert parsed.bearer_token == token
    assert_secrets_hidden(parsed, "SECRET-")


# --- robustness --------------------------------------------------------------


@given(st.text())
def test_parse_authorization_never_raises_on_arbitrary_text(value: str) -> None:
    parsed = parse_authorization(value)

    assert isinstance(parsed, AuthorizationCredential)
    assert len(set(parsed.problems)) == len(parsed.problems)
    assert (Shape.EMPTY in parsed.problems) == (parsed.scheme == "" == parsed.secret)


@given(st.text())
def test_parse_authorization_never_raises_after_a_known_scheme(value: str) -> None:
    for scheme in ("Basic", "Bearer", "Digest", "AWS4-HMAC-SHA256", "NTLM"):
        parsed = parse_authorization(f"{scheme} {value}")

        assert parsed.scheme == scheme.lower()


@given(st.text())
def test_parse_basic_never_raises_on_arbitrary_text(token68: str) -> None:
    basic = parse_basic(token68)

    assert isinstance(basic, BasicCredential)
    assert (basic.user_id is None) == (BasicShape.NO_COLON in basic.problems)


@given(st.binary())
def test_parse_basic_never_raises_on_any_encoded_bytes(raw: bytes) -> None:
    basic = parse_basic(b64(raw))

    assert BasicShape.INVALID_BASE64 not in basic.problems


pairs = st.lists(st.tuples(st.text(), st.text()))


@given(pairs, pairs)
def test_find_placed_credentials_never_raises_on_arbitrary_pairs(
    headers: list[tuple[str, str]], query: list[tuple[str, str]]
) -> None:
    found = find_placed_credentials(headers, query)

    assert len(found) <= len(headers) + len(query)
    assert all(c.kind in {"api-key", "token"} for c in found)


@given(st.text())
def test_is_session_cookie_name_never_raises(name: str) -> None:
    assert isinstance(is_session_cookie_name(name), bool)


def _best_time(action: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize(
    "build",
    [
        lambda n: "Bearer " + "a" * n,
        lambda n: "Bearer " + "a b\t" * (n // 4),
        lambda n: "Bearer " * (n // 7),
        lambda n: "Basic " + "YWxp!" * (n // 5),
        lambda n: 'Digest a="' + "\\x, " * (n // 4),
        lambda n: "Digest " + "a=b, " * (n // 5),
        lambda n: "Digest " + "=" * n,
        lambda n: "x." + "a " * (n // 2),
        lambda n: "{" + '"a": 1, ' * (n // 8),
    ],
    ids=[
        "long token", "many spaces", "repeated scheme", "invalid base64",
        "unterminated quote", "many params", "stray equals", "no scheme", "json",
    ],
)  # fmt: skip
def test_parsing_time_grows_linearly_with_the_value_length(
    build: Callable[[int], str],
) -> None:
    small, large = build(100_000), build(1_000_000)

    small_time = _best_time(lambda: parse_authorization(small))
    large_time = _best_time(lambda: parse_authorization(large))

    # 10x the input; a quadratic parser would be ~100x. No absolute timings.
    assert large_time / max(small_time, 1e-6) < 30


# --- find_placed_credentials -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("X-API-Key", "api-key"),
        ("x-api-key", "api-key"),
        ("X_API_KEY", "api-key"),
        ("Api-Key", "api-key"),
        ("apikey", "api-key"),
        ("X-Api-Token", "api-key"),
        ("Ocp-Apim-Subscription-Key", "api-key"),
        ("x-goog-api-key", "api-key"),
        ("X-RapidAPI-Key", "api-key"),
        ("X-Auth-Token", "token"),
        ("x_access_token", "token"),
        ("X-TOKEN", "token"),
    ],
)
def test_api_keys_and_tokens_are_found_in_well_known_headers(
    name: str, kind: str
) -> None:
    found = find_placed_credentials([("Accept", "*/*"), (name, "v")], [])

    assert found == (PlacedCredential(Location.HEADER, name, "v", kind),)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("api_key", "api-key"),
        ("API_KEY", "api-key"),
        ("apikey", "api-key"),
        ("api-key", "api-key"),
        ("key", "api-key"),
        ("Key", "api-key"),
        ("auth", "api-key"),
        ("access_token", "token"),
        ("Access_Token", "token"),
        ("token", "token"),
        ("id_token", "token"),
        ("auth_token", "token"),
    ],
)
def test_api_keys_and_tokens_are_found_in_well_known_query_parameters(
    name: str, kind: str
) -> None:
    found = find_placed_credentials([], [("page", "2"), (name, "v")])

    assert found == (PlacedCredential(Location.QUERY, name, "v", kind),)


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ([("X-Amz-Security-Token", "t")], []),
        ([("Authorization", "Bearer x"), ("Cookie", "a=b")], []),
        ([("key", "v"), ("token", "v")], []),  # too generic for a header
        ([("X-API-Key-Id", "v"), ("My-X-API-Key", "v")], []),  # exact names only
        ([], [("X-Amz-Security-Token", "t"), ("keys", "v"), ("q", "token")]),
        ([("X-API-\u212aey", "v")], [("\u212aey", "v")]),  # Kelvin sign folds to k
    ],
)
def test_other_names_are_not_placed_credentials(
    headers: list[tuple[str, str]], query: list[tuple[str, str]]
) -> None:
    assert find_placed_credentials(headers, query) == ()


def test_placed_credentials_keep_order_names_as_sent_and_empty_values() -> None:
    found = find_placed_credentials(
        [("X-Auth-Token", "t1"), ("Host", "h"), ("x-api-key", "")],
        [("token", "t2"), ("KEY", "k")],
    )

    assert [(c.location, c.name, c.value, c.kind) for c in found] == [
        (Location.HEADER, "X-Auth-Token", "t1", "token"),
        (Location.HEADER, "x-api-key", "", "api-key"),
        (Location.QUERY, "token", "t2", "token"),
        (Location.QUERY, "KEY", "k", "api-key"),
    ]


def test_placed_credentials_accept_generators() -> None:
    found = find_placed_credentials(
        (pair for pair in [("X-API-Key", "a")]), iter([("apikey", "b")])
    )

    assert [c.value for c in found] == ["a", "b"]


# --- is_session_cookie_name --------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "session", "SESSION", "sessionid", "session_id", "sid", "PHPSESSID",
        "JSESSIONID", "connect.sid", "ASP.NET_SessionId", "ASPSESSIONIDQARTCBSD",
        "laravel_session", "_myapp_session", "ci_session", "rack.session",
        "_session_id", "auth_token", "access_token", "refresh_token", "jwt", "JWT",
        "remember_token", "next-auth.session-token", "__Host-session",
        "__Secure-next-auth.session-token", "__Host-sessionid", "__Secure-auth",
        "appSession", "koa.sess", "wordpress_logged_in_0123abcd",
        "SESS0123456789abcdef0123456789abcdef", "cfid", "cftoken", "sb-access-token",
    ],
)  # fmt: skip
def test_session_and_auth_cookie_names_are_recognised(name: str) -> None:
    assert is_session_cookie_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "_ga", "_gid", "_gat", "_ga_ABC123", "csrftoken", "XSRF-TOKEN", "_csrf",
        "csrf_token", "__Host-csrf-token", "next-auth.csrf-token", "AMP_TOKEN",
        "theme", "lang", "consent", "__Host-theme", "sessionless_pref", "",
    ],
)  # fmt: skip
def test_other_cookie_names_are_not_session_cookies(name: str) -> None:
    assert not is_session_cookie_name(name)
