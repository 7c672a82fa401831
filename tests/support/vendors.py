"""Refusals shaped exactly as each platform sends them, with where each shape is from.

One ``VendorCase`` per platform signature in ``authdiag.platforms``: the request
a client would send and the response the platform gives (status, the headers
that identify it, the body byte for byte as documented or captured). The rule
tests build flows from them; the live tests serve them from a local responder
through a real mitmdump. Times are relative to the request, so the same case
works for a fixed test time and for the wall clock.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import jwt

SIGNING_KEY = "vendor-cases-signing-key-that-is-long-enough-for-hs256"

Headers = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class VendorCase:
    """One platform refusal: what the client sent and what the platform answered."""

    name: str
    cause: str
    source: str
    """Where the response's shape comes from."""
    status: int
    path: str
    response_headers: Headers
    body: bytes
    request_headers: Callable[[float], Headers] = lambda now: ()
    """The request's headers, given the request time (epoch seconds)."""
    method: str = "GET"
    secrets: Callable[[float], Sequence[str]] = field(default=lambda now: ())
    """Credential values that must never appear whole in the annotation."""


def jwt_for(now: float, **claims: object) -> str:
    base = {"sub": "alice", "iat": int(now) - 60, "exp": int(now) + 600}
    return jwt.encode({**base, **claims}, SIGNING_KEY, algorithm="HS256")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def amz_date(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%dT%H%M%SZ")


# --- the values sent ------------------------------------------------------------------

LOGIN_PASSWORD = "Summer-2026!"
"""A WordPress login password: not the shape of an Application Password."""
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SIGV4_SIGNATURE = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
K8S_TOKEN = "k8s-sa-token-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
GITHUB_TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
OKTA_API_TOKEN = "00QCjAl4MlV-WPXM-ABCDEFGHIJKLMNOPQRSTUVWXYZ"
API_KEY = "wrong-key-0123456789abcdefgh"
CLIENT_SECRET = "client-secret-0123456789abcdef"


def _sigv4(now: float, signed_ago: float) -> Headers:
    date = amz_date(now - signed_ago)
    return [
        ("X-Amz-Date", date),
        (
            "Authorization",
            f"AWS4-HMAC-SHA256 Credential={AWS_KEY_ID}/{date[:8]}/us-east-1/"
            "execute-api/aws4_request, SignedHeaders=host;x-amz-date, "
            f"Signature={SIGV4_SIGNATURE}",
        ),
    ]


def _cognito_id_token(now: float) -> str:
    return jwt_for(
        now,
        iss="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
        aud="4j3k2l1m0n9o8p7q6r5s4t3u2v",
        token_use="id",
    )


def _bearer(token: Callable[[float], str]) -> Callable[[float], Headers]:
    return lambda now: [("Authorization", f"Bearer {token(now)}")]


_NGINX = "captured from nginx 1.22.1 (Debian 12) by tests/test_live_crossflow.py"
_AWS_403 = "https://repost.aws/knowledge-center/api-gateway-troubleshoot-403-forbidden"
_WP = "https://github.com/WordPress/wordpress-develop/blob/trunk/src/wp-includes/"
_K8S = (
    "https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/"
    "apiserver/pkg/endpoints/handlers/responsewriters/errors.go"
)
_GITHUB = (
    "https://docs.github.com/en/rest/authentication/authenticating-to-the-rest-api"
)
_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
_ARM_GATEWAY = [("x-ms-failure-cause", "gateway"), ("Content-Type", "application/json")]


def nginx_page(status: str) -> bytes:
    """nginx's built-in error page, byte for byte as 1.22.1 sends it."""
    return (
        f"<html>\r\n<head><title>{status}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status}</h1></center>\r\n"
        "<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def _arm(code: str, message: str) -> bytes:
    return _json({"error": {"code": code, "message": message}})


VENDOR_CASES: tuple[VendorCase, ...] = (
    VendorCase(
        name="nginx-wrong-password",
        cause="nginx-basic-refused",
        source=_NGINX,
        status=401,
        path="/admin/",
        response_headers=[
            ("Server", "nginx/1.22.1"),
            ("Content-Type", "text/html"),
            ("WWW-Authenticate", 'Basic realm="orders"'),
        ],
        body=nginx_page("401 Authorization Required"),
        request_headers=lambda now: [("Authorization", basic("alice", "wr0ng-pa55"))],
        secrets=lambda now: ["wr0ng-pa55"],
    ),
    VendorCase(
        name="nginx-no-user-file",
        cause="nginx-htpasswd-missing",
        source=_NGINX,
        status=403,
        path="/admin/",
        response_headers=[("Server", "nginx/1.22.1"), ("Content-Type", "text/html")],
        body=nginx_page("403 Forbidden"),
        request_headers=lambda now: [("Authorization", basic("alice", "secret"))],
    ),
    VendorCase(
        name="nginx-unreadable-user-file",
        cause="nginx-htpasswd-unreadable",
        source=_NGINX,
        status=500,
        path="/admin/",
        response_headers=[("Server", "nginx/1.22.1"), ("Content-Type", "text/html")],
        body=nginx_page("500 Internal Server Error"),
        request_headers=lambda now: [("Authorization", basic("alice", "secret"))],
    ),
    VendorCase(
        name="aws-cognito-id-token",
        cause="aws-authorizer-unauthorized",
        source="https://docs.aws.amazon.com/apigateway/latest/developerguide/"
        "supported-gateway-response-types.html (UNAUTHORIZED, 401)",
        status=401,
        path="/prod/orders",
        response_headers=[
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", "7a1c3d1e-4f5b-4c2d-9e8f-0a1b2c3d4e5f"),
            ("x-amzn-ErrorType", "UnauthorizedException"),
            ("x-amz-apigw-id", "Bx1yZGxyoAMFq4A="),
        ],
        body=_json({"message": "Unauthorized"}),
        request_headers=_bearer(_cognito_id_token),
        secrets=lambda now: [_cognito_id_token(now)],
    ),
    VendorCase(
        name="aws-unknown-route",
        cause="aws-missing-authentication-token",
        source="https://repost.aws/knowledge-center/api-gateway-authentication-"
        "token-errors",
        status=403,
        path="/orders",
        response_headers=[
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", "MissingAuthenticationTokenException"),
        ],
        body=_json({"message": "Missing Authentication Token"}),
    ),
    VendorCase(
        name="aws-bearer-to-iam-route",
        cause="aws-incomplete-signature",
        source=_AWS_403,
        status=403,
        path="/prod/orders",
        response_headers=[
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", "IncompleteSignatureException"),
        ],
        # API Gateway repeats the whole Authorization value at the end.
        body=b"",
        request_headers=_bearer(lambda now: jwt_for(now, scope="orders")),
        secrets=lambda now: [jwt_for(now, scope="orders")],
    ),
    VendorCase(
        name="aws-signature-expired",
        cause="aws-signature-expired",
        source="https://docs.aws.amazon.com/IAM/latest/UserGuide/"
        "signature-v4-troubleshooting.html",
        status=403,
        path="/prod/orders",
        response_headers=[
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", "InvalidSignatureException"),
        ],
        body=b"",  # built per request time: see response_body()
        request_headers=lambda now: _sigv4(now, signed_ago=1200),
        secrets=lambda now: [SIGV4_SIGNATURE],
    ),
    VendorCase(
        name="aws-signature-mismatch",
        cause="aws-signature-mismatch",
        source="https://repost.aws/knowledge-center/api-gateway-iam-sigv4-mismatch",
        status=403,
        path="/prod/orders",
        response_headers=[
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", "InvalidSignatureException"),
        ],
        body=_json(
            {
                "message": "The request signature we calculated does not match the "
                "signature you provided. Check your AWS Secret Access Key and "
                "signing method. Consult the service documentation for details."
            }
        ),
        request_headers=lambda now: _sigv4(now, signed_ago=1),
        secrets=lambda now: [SIGV4_SIGNATURE],
    ),
    VendorCase(
        name="aws-unknown-access-key",
        cause="aws-invalid-security-token",
        source=_AWS_403,
        status=403,
        path="/prod/orders",
        response_headers=[
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", "UnrecognizedClientException"),
        ],
        body=_json(
            {"message": "The security token included in the request is invalid."}
        ),
        request_headers=lambda now: _sigv4(now, signed_ago=1),
    ),
    VendorCase(
        name="aws-api-key-not-in-usage-plan",
        cause="aws-api-key-forbidden",
        source=_AWS_403,
        status=403,
        path="/prod/orders",
        response_headers=[
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", "ForbiddenException"),
        ],
        body=_json({"message": "Forbidden"}),
        request_headers=lambda now: [("x-api-key", API_KEY)],
        secrets=lambda now: [API_KEY],
    ),
    VendorCase(
        name="aws-lambda-authorizer-deny",
        cause="aws-explicit-deny",
        source=_AWS_403,
        status=403,
        path="/prod/admin",
        response_headers=[
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", "AccessDeniedException"),
        ],
        body=_json(
            {
                "Message": "User is not authorized to access this resource with an "
                "explicit deny"
            }
        ),
        request_headers=_bearer(lambda now: jwt_for(now, scope="orders")),
    ),
    VendorCase(
        name="wordpress-login-password",
        cause="wordpress-application-password-refused",
        source=_WP + "user.php (wp_authenticate_application_password) and "
        "rest-api.php (rest_application_password_check_errors: status 401)",
        status=401,
        path="/wp-json/wp/v2/users/me",
        response_headers=[
            ("Content-Type", "application/json; charset=UTF-8"),
            ("X-Robots-Tag", "noindex"),
            ("Link", '<https://blog.example.com/wp-json/>; rel="https://api.w.org/"'),
        ],
        body=_json(
            {
                "code": "incorrect_password",
                "message": "The provided password is an invalid application password.",
                "data": {"status": 401},
            }
        ),
        request_headers=lambda now: [
            ("Authorization", basic("editor", LOGIN_PASSWORD))
        ],
        secrets=lambda now: [LOGIN_PASSWORD],
    ),
    VendorCase(
        name="wordpress-unknown-user",
        cause="wordpress-unknown-user",
        source=_WP + "user.php (wp_authenticate_application_password)",
        status=401,
        path="/wp-json/wp/v2/posts",
        response_headers=[("Content-Type", "application/json; charset=UTF-8")],
        body=_json(
            {
                "code": "invalid_username",
                "message": "<strong>Error:</strong> Unknown username. Check again or "
                "try your email address.",
                "data": {"status": 401},
            }
        ),
        request_headers=lambda now: [
            ("Authorization", basic("Jane Editor", "abcd EFGH 1234 ijkl MNOP 5678"))
        ],
    ),
    VendorCase(
        name="wordpress-app-passwords-off",
        cause="wordpress-application-passwords-unavailable",
        source=_WP + "user.php (wp_authenticate_application_password)",
        status=401,
        path="/?rest_route=/wp/v2/posts",
        response_headers=[("Content-Type", "application/json; charset=UTF-8")],
        body=_json(
            {
                "code": "application_passwords_disabled",
                "message": "Application passwords are not available.",
                "data": {"status": 401},
            }
        ),
        request_headers=lambda now: [
            ("Authorization", basic("editor", "abcd EFGH 1234 ijkl MNOP 5678"))
        ],
    ),
    VendorCase(
        name="wordpress-author-not-allowed",
        cause="wordpress-capability-missing",
        source=_WP + "rest-api.php (rest_authorization_required_code: 403 once "
        "a user is logged in)",
        status=403,
        path="/wp-json/wp/v2/settings",
        response_headers=[("Content-Type", "application/json; charset=UTF-8")],
        body=_json(
            {
                "code": "rest_forbidden",
                "message": "Sorry, you are not allowed to do that.",
                "data": {"status": 403},
            }
        ),
        request_headers=lambda now: [
            ("Authorization", basic("author", "abcd EFGH 1234 ijkl MNOP 5678"))
        ],
    ),
    VendorCase(
        name="wordpress-jwt-plugin",
        cause="wordpress-jwt-refused",
        source="https://github.com/Tmeister/wp-api-jwt-auth/blob/master/public/"
        "class-jwt-auth-public.php (validate_token)",
        status=403,
        path="/wp-json/wp/v2/posts",
        response_headers=[("Content-Type", "application/json; charset=UTF-8")],
        body=_json(
            {
                "code": "jwt_auth_invalid_token",
                "message": "Signature verification failed",
                "data": {"status": 403},
            }
        ),
        request_headers=_bearer(
            lambda now: jwt_for(now, iss="https://blog.example.com")
        ),
    ),
    VendorCase(
        name="kubernetes-expired-sa-token",
        cause="kubernetes-unauthenticated",
        source=_K8S + " and apiserver filters/authentication.go (Unauthorized)",
        status=401,
        path="/api/v1/namespaces/prod/pods",
        response_headers=[
            ("Audit-Id", "5e6a3c0b-7d1f-4a8e-9c2b-1f0e3d4c5b6a"),
            ("Cache-Control", "no-cache, private"),
            ("Content-Type", "application/json"),
        ],
        body=_json(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "Unauthorized",
                "reason": "Unauthorized",
                "code": 401,
            }
        ),
        request_headers=lambda now: [("Authorization", f"Bearer {K8S_TOKEN}")],
        secrets=lambda now: [K8S_TOKEN],
    ),
    VendorCase(
        name="kubernetes-rbac",
        cause="kubernetes-rbac-forbidden",
        source=_K8S + " (forbiddenMessage)",
        status=403,
        path="/api/v1/namespaces/prod/pods",
        response_headers=[("Content-Type", "application/json")],
        body=_json(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "pods is forbidden: User "
                '"system:serviceaccount:ci:deployer" cannot list resource "pods" '
                'in API group "" in the namespace "prod"',
                "reason": "Forbidden",
                "details": {"kind": "pods"},
                "code": 403,
            }
        ),
        request_headers=lambda now: [("Authorization", f"Bearer {K8S_TOKEN}")],
        secrets=lambda now: [K8S_TOKEN],
    ),
    VendorCase(
        name="github-revoked-token",
        cause="github-bad-credentials",
        source=_GITHUB,
        status=401,
        path="/user",
        response_headers=[
            ("Server", "github.com"),
            ("Content-Type", "application/json; charset=utf-8"),
            ("X-GitHub-Media-Type", "github.v3; format=json"),
            ("X-GitHub-Request-Id", "C2D4:3A9F:1B2C3D:1C2D3E:6650A1B2"),
        ],
        body=_json(
            {
                "message": "Bad credentials",
                "documentation_url": "https://docs.github.com/rest",
                "status": "401",
            }
        ),
        request_headers=lambda now: [("Authorization", f"Bearer {GITHUB_TOKEN}")],
        secrets=lambda now: [GITHUB_TOKEN],
    ),
    VendorCase(
        name="github-saml-sso",
        cause="github-sso-required",
        source=_GITHUB + "#personal-access-tokens-and-saml-sso",
        status=403,
        path="/orgs/octo-org/repos",
        response_headers=[
            ("Server", "github.com"),
            ("Content-Type", "application/json; charset=utf-8"),
            (
                "X-GitHub-SSO",
                "required; url=https://github.com/orgs/octo-org/sso?"
                "authorization_request=AZSCKtL4U8yX1H3sCQIVnVgmjmon5fWxks5YrqhJgah0b2",
            ),
        ],
        body=_json(
            {
                "message": "Resource protected by organization SAML enforcement. You "
                "must grant your Personal Access token access to this organization.",
                "documentation_url": "https://docs.github.com/articles/"
                "authenticating-to-a-github-organization-with-saml-single-sign-on/",
            }
        ),
        request_headers=lambda now: [("Authorization", f"token {GITHUB_TOKEN}")],
        secrets=lambda now: [GITHUB_TOKEN],
    ),
    VendorCase(
        name="github-locked-out",
        cause="github-login-attempts-exceeded",
        source=_GITHUB + "#failed-login-limit",
        status=403,
        path="/user",
        response_headers=[
            ("Server", "github.com"),
            ("Content-Type", "application/json"),
        ],
        body=_json(
            {
                "message": "Maximum number of login attempts exceeded. Please try "
                "again later.",
                "documentation_url": "https://docs.github.com/rest",
            }
        ),
        request_headers=lambda now: [("Authorization", basic("octocat", "nope"))],
    ),
    VendorCase(
        name="google-expired-access-token",
        cause="google-invalid-credentials",
        source="https://cloud.google.com/apis/design/errors and the body Google "
        "APIs send (https://github.com/rohitaryal/imageFX-api/issues/2)",
        status=401,
        path="/v1/projects/demo/instances",
        response_headers=[
            (
                "WWW-Authenticate",
                'Bearer realm="https://accounts.google.com/", error="invalid_token"',
            ),
            ("Content-Type", "application/json; charset=UTF-8"),
            ("Server", "ESF"),
        ],
        body=_json(
            {
                "error": {
                    "code": 401,
                    "message": "Request had invalid authentication credentials. "
                    "Expected OAuth 2 access token, login cookie or other valid "
                    "authentication credential. See "
                    "https://developers.google.com/identity/sign-in/web/"
                    "devconsole-project.",
                    "status": "UNAUTHENTICATED",
                }
            }
        ),
        request_headers=lambda now: [
            ("Authorization", "Bearer ya29.a0AfB_byC-expired")
        ],
    ),
    VendorCase(
        name="google-missing-scope",
        cause="google-insufficient-scopes",
        source="https://cloud.google.com/apis/design/errors",
        status=403,
        path="/storage/v1/b",
        response_headers=[
            (
                "WWW-Authenticate",
                'Bearer realm="https://accounts.google.com/", '
                'error="insufficient_scope", '
                'scope="https://www.googleapis.com/auth/devstorage.read_only"',
            ),
            ("Content-Type", "application/json; charset=UTF-8"),
        ],
        body=_json(
            {
                "error": {
                    "code": 403,
                    "message": "Request had insufficient authentication scopes.",
                    "status": "PERMISSION_DENIED",
                }
            }
        ),
        request_headers=lambda now: [
            ("Authorization", "Bearer ya29.a0AfB_byC-noscope")
        ],
    ),
    VendorCase(
        name="google-api-disabled",
        cause="google-service-disabled",
        source="https://cloud.google.com/apis/design/errors",
        status=403,
        path="/v1/projects/demo",
        response_headers=[("Content-Type", "application/json; charset=UTF-8")],
        body=_json(
            {
                "error": {
                    "code": 403,
                    "message": "Cloud Resource Manager API has not been used in "
                    "project 123456789012 before or it is disabled. Enable it by "
                    "visiting "
                    "https://console.developers.google.com/apis/api/"
                    "cloudresourcemanager.googleapis.com/overview?project="
                    "123456789012 then retry.",
                    "status": "PERMISSION_DENIED",
                }
            }
        ),
        request_headers=lambda now: [("Authorization", "Bearer ya29.a0AfB_byC-valid")],
    ),
    VendorCase(
        name="azure-expired",
        cause="azure-token-expired",
        source="https://github.com/hashicorp/terraform-provider-azurerm/issues/20867",
        status=401,
        path="/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups",
        response_headers=[
            (
                "WWW-Authenticate",
                f'Bearer authorization_uri="https://login.windows.net/{_TENANT}", '
                'error="invalid_token", error_description="The access token has '
                'expired."',
            ),
            *_ARM_GATEWAY,
        ],
        body=_arm(
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time '3/19/2023 8:55:46 AM' is earlier than "
            "current UTC time '3/19/2023 8:55:57 AM'.",
        ),
        request_headers=_bearer(
            lambda now: jwt_for(
                now,
                aud="https://management.azure.com/",
                iss=f"https://sts.windows.net/{_TENANT}/",
                exp=int(now) - 11,
            )
        ),
    ),
    VendorCase(
        name="azure-graph-token",
        cause="azure-token-wrong-audience",
        source="https://github.com/JetBrains/azure-tools-for-intellij/issues/16",
        status=401,
        path="/subscriptions",
        response_headers=_ARM_GATEWAY,
        body=_arm(
            "InvalidAuthenticationTokenAudience",
            "The access token has been obtained for wrong audience or resource "
            "'https://graph.microsoft.com'. It should exactly match with one of the "
            "allowed audiences 'https://management.core.windows.net/',"
            "'https://management.core.windows.net','https://management.azure.com/',"
            "'https://management.azure.com'.",
        ),
        request_headers=_bearer(
            lambda now: jwt_for(now, aud="https://graph.microsoft.com")
        ),
    ),
    VendorCase(
        name="azure-other-tenant",
        cause="azure-token-wrong-tenant",
        source="https://learn.microsoft.com/azure/azure-resource-manager/"
        "troubleshooting/common-deployment-errors",
        status=401,
        path="/subscriptions/00000000-0000-0000-0000-000000000000",
        response_headers=_ARM_GATEWAY,
        body=_arm(
            "InvalidAuthenticationTokenTenant",
            "The access token is from the wrong issuer 'https://sts.windows.net/"
            "11111111-1111-1111-1111-111111111111/'. It must match the tenant "
            f"'https://sts.windows.net/{_TENANT}/' associated with this subscription.",
        ),
        request_headers=_bearer(
            lambda now: jwt_for(
                now,
                aud="https://management.azure.com/",
                iss="https://sts.windows.net/11111111-1111-1111-1111-111111111111/",
            )
        ),
    ),
    VendorCase(
        name="azure-not-a-token",
        cause="azure-token-invalid",
        source="https://learn.microsoft.com/azure/azure-resource-manager/"
        "troubleshooting/common-deployment-errors",
        status=401,
        path="/subscriptions",
        response_headers=_ARM_GATEWAY,
        body=_arm("InvalidAuthenticationToken", "The access token is invalid."),
        request_headers=lambda now: [("Authorization", "Bearer not-a-jwt-at-all-1234")],
    ),
    VendorCase(
        name="azure-no-role",
        cause="azure-authorization-failed",
        source="https://learn.microsoft.com/azure/azure-resource-manager/"
        "troubleshooting/common-deployment-errors",
        status=403,
        path="/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg",
        response_headers=[("Content-Type", "application/json")],
        body=_arm(
            "AuthorizationFailed",
            "The client 'ci@example.com' with object id "
            "'0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e' does not have authorization to "
            "perform action 'Microsoft.Resources/subscriptions/resourcegroups/read' "
            "over scope '/subscriptions/00000000-0000-0000-0000-000000000000/"
            "resourcegroups/rg' or the scope is invalid.",
        ),
        request_headers=_bearer(
            lambda now: jwt_for(now, aud="https://management.azure.com/")
        ),
    ),
    VendorCase(
        name="keycloak-wrong-client-secret",
        cause="oauth-client-authentication-failed",
        source="https://github.com/keycloak/keycloak/issues/16923",
        status=401,
        method="POST",
        path="/realms/demo/protocol/openid-connect/token",
        response_headers=[("Content-Type", "application/json")],
        body=_json(
            {
                "error": "unauthorized_client",
                "error_description": "Invalid client or Invalid client credentials",
            }
        ),
        request_headers=lambda now: [
            ("Authorization", basic("orders-service", CLIENT_SECRET))
        ],
        secrets=lambda now: [CLIENT_SECRET],
    ),
    VendorCase(
        name="okta-api-token",
        cause="okta-invalid-token",
        source="https://developer.okta.com/docs/reference/error-codes/#E0000011",
        status=401,
        path="/api/v1/users/me",
        response_headers=[("Content-Type", "application/json")],
        body=_json(
            {
                "errorCode": "E0000011",
                "errorSummary": "Invalid token provided",
                "errorLink": "E0000011",
                "errorId": "oaeq9jvBEKnQ6qeSFPzS6D7BQ",
                "errorCauses": [],
            }
        ),
        request_headers=lambda now: [("Authorization", f"SSWS {OKTA_API_TOKEN}")],
        secrets=lambda now: [OKTA_API_TOKEN],
    ),
    VendorCase(
        name="auth0-management-api",
        cause="auth0-management-token-refused",
        source="https://github.com/auth0/auth0-authorization-extension/issues/231",
        status=401,
        path="/api/v2/users",
        response_headers=[("Content-Type", "application/json; charset=utf-8")],
        body=_json(
            {
                "statusCode": 401,
                "error": "Unauthorized",
                "message": "Invalid token",
                "attributes": {"error": "Invalid token"},
            }
        ),
        request_headers=_bearer(lambda now: jwt_for(now, aud="https://orders.example")),
    ),
)


def response_body(case: VendorCase, now: float, authorization: str | None) -> bytes:
    """The body as the platform sends it for a request at ``now``: two of them
    depend on the request (AWS repeats the Authorization value; Signature expired
    names the times)."""
    if case.cause == "aws-incomplete-signature":
        message = (
            "Authorization header requires 'Credential' parameter. Authorization "
            "header requires 'Signature' parameter. Authorization header requires "
            "'SignedHeaders' parameter. Authorization header requires existence of "
            f"either a 'X-Amz-Date' or a 'Date' header. Authorization={authorization}"
        )
        return _json({"message": message})
    if case.cause == "aws-signature-expired":
        signed = amz_date(now - 1200)
        message = (
            f"Signature expired: {signed} is now earlier than {amz_date(now - 300)} "
            f"({amz_date(now)} - 5 min.)"
        )
        return _json({"message": message})
    return case.body
