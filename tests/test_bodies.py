"""Tests for authdiag.bodies: what an error response body says."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authdiag.bodies import MAX_BODY, MAX_TEXT, ErrorBody, parse_error_body

JSON = "application/json"

# Each body is spelled the way the vendor sends it on a refused request.
VENDOR_BODIES = [
    pytest.param(
        # RFC 6750 §3.1 / RFC 6749 §5.2, e.g. Keycloak's userinfo endpoint.
        b'{"error":"invalid_token","error_description":"Token verification failed"}',
        JSON,
        "invalid_token",
        "Token verification failed",
        id="oauth-rfc6750",
    ),
    pytest.param(
        # AWS API Gateway, missing or rejected token.
        b'{"message":"Unauthorized"}',
        JSON,
        None,
        "Unauthorized",
        id="aws-api-gateway",
    ),
    pytest.param(
        # AWS API Gateway, Lambda authorizer deny: note the capital M.
        b'{"Message":"User is not authorized to access this resource with an '
        b'explicit deny"}',
        JSON,
        None,
        "User is not authorized to access this resource with an explicit deny",
        id="aws-api-gateway-explicit-deny",
    ),
    pytest.param(
        # AWS JSON protocol services (STS, DynamoDB, ...).
        b'{"__type":"com.amazon.coral.service#UnrecognizedClientException",'
        b'"message":"The security token included in the request is invalid."}',
        "application/x-amz-json-1.0",
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        id="aws-json-protocol",
    ),
    pytest.param(
        # GitHub REST API with a bad token.
        b'{"message":"Bad credentials","documentation_url":'
        b'"https://docs.github.com/rest","status":"401"}',
        "application/json; charset=utf-8",
        None,
        "Bad credentials",
        id="github",
    ),
    pytest.param(
        # Django REST framework, no Authorization header.
        b'{"detail":"Authentication credentials were not provided."}',
        JSON,
        None,
        "Authentication credentials were not provided.",
        id="django-rest-framework",
    ),
    pytest.param(
        # djangorestframework-simplejwt, expired access token (messages trimmed).
        b'{"detail":"Given token not valid for any token type",'
        b'"code":"token_not_valid","messages":[{"token_class":"AccessToken",'
        b'"token_type":"access","message":"Token is invalid or expired"}]}',
        JSON,
        "token_not_valid",
        "Given token not valid for any token type",
        id="drf-simplejwt",
    ),
    pytest.param(
        # FastAPI's OAuth2PasswordBearer / HTTPBearer.
        b'{"detail":"Not authenticated"}',
        JSON,
        None,
        "Not authenticated",
        id="fastapi",
    ),
    pytest.param(
        # flask-jwt-extended's default expired-token callback.
        b'{"msg":"Token has expired"}\n',
        JSON,
        None,
        "Token has expired",
        id="flask-jwt-extended",
    ),
    pytest.param(
        # Spring Boot's BasicErrorController (DefaultErrorAttributes).
        b'{"timestamp":"2024-05-01T10:00:00.000+00:00","status":401,'
        b'"error":"Unauthorized","message":"Full authentication is required to '
        b'access this resource","path":"/api/orders"}',
        JSON,
        "Unauthorized",
        "Full authentication is required to access this resource",
        id="spring-boot",
    ),
    pytest.param(
        # Google APIs (google.rpc.Status in JSON).
        b'{\n  "error": {\n    "code": 401,\n    "message": "Request had invalid '
        b"authentication credentials. Expected OAuth 2 access token, login "
        b'cookie or other valid authentication credential.",\n    "status": '
        b'"UNAUTHENTICATED"\n  }\n}\n',
        "application/json; charset=UTF-8",
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access "
        "token, login cookie or other valid authentication credential.",
        id="google",
    ),
    pytest.param(
        # Azure Resource Manager with an expired bearer token.
        b'{"error":{"code":"ExpiredAuthenticationToken","message":"The access '
        b"token expiry UTC time '5/1/2024 10:00:00 AM' is earlier than current "
        b"UTC time '5/1/2024 11:00:00 AM'.\"}}",
        "application/json; charset=utf-8",
        "ExpiredAuthenticationToken",
        "The access token expiry UTC time '5/1/2024 10:00:00 AM' is earlier than "
        "current UTC time '5/1/2024 11:00:00 AM'.",
        id="azure-arm",
    ),
    pytest.param(
        # Kubernetes API server, anonymous or bad token.
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"Unauthorized","reason":"Unauthorized","code":401}\n',
        JSON,
        "Unauthorized",
        "Unauthorized",
        id="kubernetes",
    ),
    pytest.param(
        # WordPress REST API without a logged-in user.
        b'{"code":"rest_forbidden","message":"Sorry, you are not allowed to do '
        b'that.","data":{"status":401}}',
        "application/json; charset=UTF-8",
        "rest_forbidden",
        "Sorry, you are not allowed to do that.",
        id="wordpress",
    ),
    pytest.param(
        # RFC 9457 problem details, as Spring Framework 6's ProblemDetail sends.
        b'{"type":"about:blank","title":"Unauthorized","status":401,'
        b'"detail":"Jwt expired at 2024-05-01T10:00:00Z","instance":"/api"}',
        "application/problem+json",
        None,
        "Jwt expired at 2024-05-01T10:00:00Z",
        id="problem-json",
    ),
    pytest.param(
        # Apollo Server (GraphQL spec §7.1.2 errors with extensions.code).
        b'{"errors":[{"message":"You must be logged in","extensions":'
        b'{"code":"UNAUTHENTICATED"}}],"data":null}',
        "application/graphql-response+json",
        "UNAUTHENTICATED",
        "You must be logged in",
        id="graphql-apollo",
    ),
    pytest.param(
        # Docker Registry HTTP API v2 (Docker Hub, GHCR), no token.
        b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required",'
        b'"detail":[{"Type":"repository","Class":"","Name":"library/app",'
        b'"Action":"pull"}]}]}\n',
        JSON,
        "UNAUTHORIZED",
        "authentication required",
        id="docker-registry",
    ),
    pytest.param(
        # Microsoft Entra ID token endpoint (trace and correlation ids trimmed).
        b'{"error":"invalid_client","error_description":"AADSTS7000215: Invalid '
        b'client secret provided.","error_codes":[7000215]}',
        JSON,
        "invalid_client",
        "AADSTS7000215: Invalid client secret provided.",
        id="entra-id-token-endpoint",
    ),
    pytest.param(
        # Salesforce REST API: a list of errors.
        b'[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]',
        JSON,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
        id="salesforce",
    ),
    pytest.param(
        # Amazon S3, refused request.
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        b"<Message>Access Denied</Message><RequestId>4442587FB7D0A2F9</RequestId>"
        b"<HostId>abc=</HostId></Error>",
        "application/xml",
        "AccessDenied",
        "Access Denied",
        id="amazon-s3",
    ),
    pytest.param(
        # nginx's built-in 401 page (auth_basic, auth_request).
        b"<html>\r\n<head><title>401 Authorization Required</title></head>\r\n"
        b"<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n"
        b"<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n",
        "text/html",
        None,
        "401 Authorization Required",
        id="nginx",
    ),
]


@pytest.mark.parametrize(("content", "content_type", "code", "message"), VENDOR_BODIES)
def test_a_vendor_error_body_gives_its_code_and_message(
    content: bytes, content_type: str, code: str | None, message: str
) -> None:
    got = parse_error_body(content, content_type)
    assert got is not None
    assert (got.code, got.message) == (code, message)


def test_json_bodies_name_their_source() -> None:
    got = parse_error_body(b'{"message":"Unauthorized"}', JSON)
    assert got is not None and got.source == "JSON body"


def test_kubernetes_fields_keep_short_top_level_scalars_for_matching() -> None:
    body = (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"Unauthorized","reason":"Unauthorized","code":401}'
    )
    got = parse_error_body(body, JSON)
    assert got is not None
    assert ("kind", "Status") in got.fields
    assert ("reason", "Unauthorized") in got.fields
    assert ("code", "401") in got.fields
    assert all(key != "metadata" for key, _ in got.fields)


def test_wordpress_fields_include_the_code() -> None:
    body = b'{"code":"rest_forbidden","message":"x","data":{"status":401}}'
    got = parse_error_body(body, JSON)
    assert got is not None
    assert ("code", "rest_forbidden") in got.fields


def test_booleans_in_fields_are_spelled_as_json() -> None:
    got = parse_error_body(b'{"success":false,"message":"no"}', JSON)
    assert got is not None
    assert ("success", "false") in got.fields


def test_fields_are_at_most_twenty_with_values_capped_at_a_hundred() -> None:
    members = ",".join(f'"k{i}":"{"v" * 500}"' for i in range(30))
    got = parse_error_body(f"{{{members}}}".encode(), JSON)
    assert got is not None
    assert len(got.fields) == 20
    assert all(len(value) <= 100 for _, value in got.fields)
    assert got.fields[0][1].endswith("…")


def test_a_json_body_is_recognised_without_a_content_type() -> None:
    got = parse_error_body(b'  {"detail":"Not authenticated"}', None)
    assert got is not None
    assert (got.message, got.source) == ("Not authenticated", "JSON body")


def test_a_sentence_in_error_is_the_message_not_the_code() -> None:
    got = parse_error_body(b'{"error":"The access token is invalid."}', JSON)
    assert got is not None
    assert (got.code, got.message) == (None, "The access token is invalid.")


def test_a_bare_json_string_is_the_message() -> None:
    got = parse_error_body(b'"Invalid API key"', JSON)
    assert got is not None
    assert got.message == "Invalid API key"


def test_an_empty_json_object_says_nothing() -> None:
    assert parse_error_body(b"{}", JSON) is None


def test_a_long_message_is_cut_to_max_text_with_an_ellipsis() -> None:
    got = parse_error_body(b'{"message":"' + b"a" * 5000 + b'"}', JSON)
    assert got is not None and got.message is not None
    assert len(got.message) == MAX_TEXT
    assert got.message.endswith("…")


def test_whitespace_in_a_message_is_collapsed() -> None:
    got = parse_error_body(b'{"message":"  token\\n\\t expired  "}', JSON)
    assert got is not None
    assert got.message == "token expired"


# --- HTML and text ------------------------------------------------------------


def test_the_nginx_page_is_read_from_its_title() -> None:
    body = (
        b"<html>\r\n<head><title>401 Authorization Required</title></head>\r\n"
        b"<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n"
        b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    got = parse_error_body(body, "text/html")
    assert got == ErrorBody(message="401 Authorization Required", source="HTML title")


def test_an_html_page_without_a_title_is_read_from_its_first_heading() -> None:
    body = b"<html><body><h1 class='x'>\n  Access <b>denied</b>  &amp; logged\n</h1>"
    got = parse_error_body(body, "text/html; charset=utf-8")
    assert got == ErrorBody(message="Access denied & logged", source="HTML heading")


def test_an_empty_title_falls_through_to_the_heading() -> None:
    got = parse_error_body(b"<title> </title><h1>Forbidden</h1>", "text/html")
    assert got is not None
    assert (got.message, got.source) == ("Forbidden", "HTML heading")


def test_html_is_recognised_without_a_content_type() -> None:
    got = parse_error_body(b"<!DOCTYPE html><TITLE>Login required</TITLE>", None)
    assert got is not None
    assert got.message == "Login required"


def test_an_html_page_served_as_json_is_still_read_as_html() -> None:
    got = parse_error_body(b"<html><title>502 Bad Gateway</title></html>", JSON)
    assert got is not None
    assert got.message == "502 Bad Gateway"


def test_a_declared_charset_is_honoured() -> None:
    body = "<title>Zugriff verweigert für Sie</title>".encode("cp1252")
    got = parse_error_body(body, "text/html; charset=windows-1252")
    assert got is not None
    assert got.message == "Zugriff verweigert für Sie"


def test_plain_text_gives_its_first_non_empty_line() -> None:
    got = parse_error_body(b"\n\n  Invalid API key  \nsee docs\n", "text/plain")
    assert got == ErrorBody(message="Invalid API key", source="text body")


def test_invalid_json_falls_back_to_its_first_line_as_text() -> None:
    got = parse_error_body(b'{"error": "invalid_token", oops', JSON)
    assert got is not None
    assert got.source == "text body"
    assert got.message == '{"error": "invalid_token", oops'


# --- nothing usable, hostile bodies -------------------------------------------


@pytest.mark.parametrize("content", [None, b"", b"   \r\n\t "])
def test_an_empty_body_says_nothing(content: bytes | None) -> None:
    assert parse_error_body(content, "text/plain") is None


def test_a_png_says_nothing() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"
    assert parse_error_body(png, "image/png") is None


def test_binary_declared_as_text_says_nothing() -> None:
    assert parse_error_body(bytes(range(256)) * 4, "text/plain") is None


def test_a_gzip_body_without_a_content_type_says_nothing() -> None:
    assert (
        parse_error_body(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb", None) is None
    )


def test_a_hundred_thousand_levels_of_json_nesting_do_not_raise() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    got = parse_error_body(body, JSON)
    assert got is None or got.source == "text body"


def test_deeply_nested_objects_do_not_raise() -> None:
    body = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    got = parse_error_body(body, None)
    assert got is None or got.source == "text body"


def test_a_ten_megabyte_body_is_read_only_up_to_the_limit() -> None:
    body = b'{"message":"' + b"x" * 10_000_000 + b'"}'
    got = parse_error_body(body, JSON)
    # Cut at MAX_BODY the JSON is invalid, so only a capped excerpt remains.
    assert got is not None
    assert got.source == "text body"
    assert got.message is not None and len(got.message) <= MAX_TEXT


def test_a_body_cut_inside_a_multibyte_character_is_still_text() -> None:
    body = b"E" + "é".encode() * MAX_BODY
    got = parse_error_body(body, None)
    assert got is not None
    assert got.message is not None and got.message.startswith("Eé")


def test_the_end_of_a_long_body_is_never_read() -> None:
    body = b"\n" * MAX_BODY + b"late line"
    assert parse_error_body(body, "text/plain") is None


@pytest.mark.parametrize(
    "content",
    [
        b"<title>" * 20_000,
        b"<title>" + b"<" * 60_000,
        b"<title>x" + b"</title " * 8_000,
        b"<h1 " * 15_000,
    ],
)
def test_hostile_html_says_nothing_without_raising(content: bytes) -> None:
    assert parse_error_body(content, "text/html") is None


@given(st.binary(max_size=2048), st.one_of(st.none(), st.text(max_size=60)))
def test_arbitrary_bytes_and_content_types_never_raise(
    content: bytes, content_type: str | None
) -> None:
    got = parse_error_body(content, content_type)
    assert got is None or isinstance(got, ErrorBody)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=20,
    )
)
def test_arbitrary_json_never_raises_and_keeps_strings_short(value: object) -> None:
    got = parse_error_body(json.dumps(value).encode(), JSON)
    if got is not None:
        for text in (got.code, got.message):
            assert text is None or len(text) <= MAX_TEXT
        assert len(got.fields) <= 20
