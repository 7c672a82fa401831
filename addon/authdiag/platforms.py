"""What platforms, servers and clients are known to do: data, not code.

Each table entry says how to recognise something in a flow, what it means and
what to do, and cites where its shape comes from. The rules in
``rules/platforms.py`` and ``rules/crossflow.py`` read these tables; adding a
platform means adding an entry here (and a test with a response shaped exactly
as the vendor sends it).

Patterns are regular expressions: ``code`` must match the server's error code
whole, every other pattern is searched for. Names of headers are lower case.
"""

from __future__ import annotations

from dataclasses import dataclass

from authdiag.findings import Confidence, Fault

HIGH, MEDIUM = Confidence.HIGH, Confidence.MEDIUM

WORDPRESS_REST = r"/wp-json/|[?&]rest_route="
"""WordPress REST API paths, with pretty permalinks or without them."""
TOKEN_ENDPOINT = (
    r"(/oauth/token|/oauth2/(?:[^/]+/)?v1/token|/protocol/openid-connect/token"
    r"|/oauth2/v2\.0/token|/token)(?=$|\?)"
)
"""OAuth token endpoints: Auth0, Okta, Keycloak, Microsoft Entra ID, others."""


@dataclass(frozen=True, slots=True)
class Signature:
    """How a platform answers a refusal, and the cause and fix that shape implies.

    Every condition given must hold. ``sent`` names what the request must have
    carried: 'any', 'credentials' (Authorization or an API key), 'authorization'
    (an Authorization header), 'basic', 'bearer'.
    """

    cause: str
    platform: str
    title: str
    when: str
    """What the signature matches, in words, for docs/causes.md."""
    summary: str
    fix: tuple[str, ...]
    source: str
    statuses: frozenset[int]
    confidence: Confidence = HIGH
    fault: Fault = Fault.CLIENT
    headers: tuple[tuple[str, str], ...] = ()
    """(response header, pattern) pairs."""
    challenge: str | None = None
    """A scheme the response's WWW-Authenticate must offer (lower case)."""
    code: str | None = None
    """Pattern for the error code (challenge error, else the body's code)."""
    message: str | None = None
    """Pattern for the error description or the body's message."""
    fields: tuple[tuple[str, str], ...] = ()
    """(top-level JSON field, pattern for its whole value) pairs."""
    path: str | None = None
    """Pattern for the request's path and query."""
    sent: str = "any"
    details: str = ""
    """The name of an explainer in rules/platforms.py that adds what this flow
    shows (token claims, clock skew, the user named); it may also overrule."""
    quote_body: bool = True
    """False when the server echoes the credential back in its message."""


@dataclass(frozen=True, slots=True)
class Absence:
    """A server's way of saying that no credential reached it."""

    platform: str
    statuses: frozenset[int]
    source: str
    code: str | None = None
    message: str | None = None
    path: str | None = None


@dataclass(frozen=True, slots=True)
class Intermediary:
    """Something between client and application known to drop Authorization."""

    name: str
    header: str
    pattern: str
    fix: str
    source: str


@dataclass(frozen=True, slots=True)
class RedirectRule:
    """What a client does with credentials when a redirect leaves the origin."""

    client: str
    user_agent: str
    """Pattern for the User-Agent header."""
    rule: str
    fix: str
    source: str


@dataclass(frozen=True, slots=True)
class PreflightFix:
    """How one server stack lets CORS preflights through its authentication."""

    stack: str
    header: str
    pattern: str
    fix: str
    source: str


# --- platform signatures ------------------------------------------------------------

_AWS_403 = "https://repost.aws/knowledge-center/api-gateway-troubleshoot-403-forbidden"
_NGINX_BASIC = "https://nginx.org/en/docs/http/ngx_http_auth_basic_module.html"
_NGINX_SOURCE = (
    "https://github.com/nginx/nginx/blob/master/src/http/modules/"
    "ngx_http_auth_basic_module.c (the user file is opened only when credentials "
    "arrive: ENOENT gives 403, any other error 500; checked against nginx 1.22)"
)
_WP_USER = (
    "https://github.com/WordPress/wordpress-develop/blob/trunk/src/wp-includes/user.php"
)
_WP_REST = (
    "https://github.com/WordPress/wordpress-develop/blob/trunk/src/wp-includes/"
    "rest-api.php"
)
_K8S_ERRORS = (
    "https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/"
    "apiserver/pkg/endpoints/handlers/responsewriters/errors.go"
)
_GITHUB_AUTH = (
    "https://docs.github.com/en/rest/authentication/authenticating-to-the-rest-api"
)
_GOOGLE_ERRORS = "https://cloud.google.com/apis/design/errors"
_AZURE_ERRORS = (
    "https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/"
    "common-deployment-errors"
)

SIGNATURES: tuple[Signature, ...] = (
    # nginx ----------------------------------------------------------------------------
    Signature(
        cause="nginx-basic-refused",
        platform="nginx",
        title="nginx auth_basic refused the user or password",
        when="A 401 from nginx (Server: nginx) with a Basic challenge, answering a "
        "request that carried Basic credentials.",
        summary="nginx's auth_basic refused the Basic credentials",
        fix=(
            "nginx's error log names the reason: 'user \"NAME\": password mismatch' "
            'or \'user "NAME" was not found in "FILE"\'.',
            "Check the auth_basic_user_file: the user is in it, and its hash is one "
            "nginx reads (crypt(), $apr1$ MD5, {SHA}, {SSHA}, {PLAIN}; bcrypt only "
            "where the system's crypt() has it): htpasswd -m FILE USER, or "
            "openssl passwd -apr1.",
        ),
        source=_NGINX_BASIC,
        statuses=frozenset({401}),
        headers=(("server", r"^nginx"),),
        challenge="basic",
        sent="basic",
    ),
    Signature(
        cause="nginx-htpasswd-missing",
        platform="nginx",
        title="nginx cannot find its auth_basic user file",
        when="nginx's own '403 Forbidden' page answering Basic credentials: nginx "
        "opens the auth_basic_user_file only when credentials arrive, and a file "
        "that does not exist gives 403.",
        summary="nginx answered the Basic credentials with its own 403 page: its "
        "auth_basic_user_file most likely does not exist",
        fix=(
            "Check the auth_basic_user_file path; a relative path is taken from "
            "nginx's configuration prefix, not from the including file. The error "
            "log says 'open() \"FILE\" failed (2: No such file or directory)'.",
            "Other nginx 403s (deny rules, a directory without an index) look the "
            "same; the error log tells them apart.",
        ),
        source=_NGINX_SOURCE,
        statuses=frozenset({403}),
        confidence=MEDIUM,
        fault=Fault.SERVER,
        headers=(("server", r"^nginx"),),
        message=r"^403 Forbidden$",
        sent="basic",
        details="nginx-htpasswd",
    ),
    Signature(
        cause="nginx-htpasswd-unreadable",
        platform="nginx",
        title="nginx cannot read its auth_basic user file (500, not 401)",
        when="nginx's own '500 Internal Server Error' page answering Basic "
        "credentials (diagnosed only when 500 is in authdiag_statuses).",
        summary="nginx answered the Basic credentials with a 500: its "
        "auth_basic_user_file exists but the worker cannot read it",
        fix=(
            "Let nginx's worker user (the 'user' directive: www-data, nginx or "
            "nobody) read the file: chmod 640 FILE and chgrp it to that user's "
            'group. The error log says \'open() "FILE" failed (13: Permission '
            "denied)'.",
            "Requests without credentials still get a 401 challenge, because nginx "
            "opens the file only once credentials arrive.",
        ),
        source=_NGINX_SOURCE,
        statuses=frozenset({500}),
        confidence=MEDIUM,
        fault=Fault.SERVER,
        headers=(("server", r"^nginx"),),
        message=r"^500 Internal Server Error$",
        sent="basic",
        details="nginx-htpasswd",
    ),
    # AWS API Gateway and SigV4 --------------------------------------------------------
    Signature(
        cause="aws-authorizer-unauthorized",
        platform="AWS API Gateway",
        title="API Gateway's authorizer refused the token",
        when="A 401 with x-amzn-ErrorType UnauthorizedException and the body "
        '{"message":"Unauthorized"}: a Lambda, Cognito or JWT authorizer refused '
        "the request before the integration saw it.",
        summary="API Gateway's authorizer refused the request",
        fix=(
            "The authorizer reads its identity source (the Authorization header "
            "by default): send the token there, exactly as the authorizer expects "
            "(Cognito user pool authorizers want the raw token; HTTP API JWT "
            "authorizers want 'Bearer <token>').",
            "For a Lambda authorizer, its CloudWatch logs say why it threw "
            "'Unauthorized'; for an HTTP API JWT authorizer, the response's "
            "www-authenticate error_description does.",
        ),
        source="https://docs.aws.amazon.com/apigateway/latest/developerguide/"
        "supported-gateway-response-types.html",
        statuses=frozenset({401}),
        headers=(("x-amzn-errortype", r"^UnauthorizedException"),),
        details="cognito",
    ),
    Signature(
        cause="aws-missing-authentication-token",
        platform="AWS API Gateway",
        title="API Gateway: no such route, or an IAM route called unsigned",
        when="A 403 with x-amzn-ErrorType MissingAuthenticationTokenException "
        "('Missing Authentication Token'): API Gateway has no method for this path "
        "and verb, or the method uses IAM and the request is not SigV4-signed.",
        summary="API Gateway found no route for this method and path, or the route "
        "uses IAM authorization and the request is not signed",
        fix=(
            "Check the URL: it must include the stage (/prod/...), the resource "
            "path exactly as deployed (case, trailing slash) and a method that "
            "exists; redeploy the API after adding one.",
            "If the method uses AWS_IAM, sign the request with Signature Version 4 "
            "(curl --aws-sigv4 'aws:amz:REGION:execute-api' --user KEY:SECRET, or "
            "an SDK).",
        ),
        source="https://repost.aws/knowledge-center/api-gateway-authentication-"
        "token-errors",
        statuses=frozenset({403}),
        headers=(("x-amzn-errortype", r"^MissingAuthenticationTokenException"),),
        details="aws-missing-token",
    ),
    Signature(
        cause="aws-incomplete-signature",
        platform="AWS API Gateway",
        title="A token sent to a route that expects an AWS SigV4 signature",
        when="A 403 with x-amzn-ErrorType IncompleteSignatureException answering a "
        "request with an Authorization header: API Gateway read it as a SigV4 "
        "signature ('Authorization header requires ...', or 'not a valid key=value "
        "pair').",
        summary="API Gateway read the Authorization header as an AWS SigV4 "
        "signature: this route uses IAM authorization, not a token authorizer",
        fix=(
            "Either sign the request with SigV4, or give the method a Cognito, "
            "Lambda or JWT authorizer that takes the token.",
            "A private API behind a VPC endpoint with an endpoint policy evaluates "
            "Authorization as SigV4 even without an authorizer: send the "
            "application's own token in another header there.",
        ),
        source=_AWS_403,
        statuses=frozenset({403}),
        headers=(("x-amzn-errortype", r"^IncompleteSignatureException"),),
        sent="authorization",
        quote_body=False,
    ),
    Signature(
        cause="aws-signature-expired",
        platform="AWS SigV4",
        title="The SigV4 signature is older than AWS accepts (5 minutes)",
        when="A 403 with x-amzn-ErrorType InvalidSignatureException and 'Signature "
        "expired': the request's X-Amz-Date is more than 5 minutes from AWS's clock.",
        summary="AWS refused the SigV4 signature as expired: its X-Amz-Date is more "
        "than 5 minutes away from AWS's clock",
        fix=(
            "Synchronise the client's clock (NTP): SigV4 allows 5 minutes of skew.",
            "Sign each request just before sending it; a request signed once and "
            "retried or queued later carries a stale X-Amz-Date.",
        ),
        source="https://docs.aws.amazon.com/IAM/latest/UserGuide/"
        "signature-v4-troubleshooting.html",
        statuses=frozenset({403}),
        headers=(("x-amzn-errortype", r"^InvalidSignatureException"),),
        message=r"Signature expired",
        details="sigv4-clock",
    ),
    Signature(
        cause="aws-signature-mismatch",
        platform="AWS SigV4",
        title="The SigV4 signature does not match what AWS computed",
        when="A 403 with x-amzn-ErrorType InvalidSignatureException and 'The "
        "request signature we calculated does not match the signature you "
        "provided'.",
        summary="AWS computed a different SigV4 signature: wrong secret key, or the "
        "request was signed differently from how it was sent",
        fix=(
            "Check that the secret access key belongs to the access key id in the "
            "Credential parameter.",
            "Sign exactly what is sent: the path as encoded, the query parameters "
            "sorted, the Host and every signed header; anything that rewrites the "
            "request after signing (a proxy, a client adding headers) breaks it.",
        ),
        source="https://repost.aws/knowledge-center/api-gateway-iam-sigv4-mismatch",
        statuses=frozenset({403}),
        headers=(("x-amzn-errortype", r"^InvalidSignatureException"),),
        message=r"signature we calculated does not match",
    ),
    Signature(
        cause="aws-invalid-security-token",
        platform="AWS IAM",
        title="AWS does not know the access key or session token",
        when="A 403 saying 'The security token included in the request is "
        "invalid.' (x-amzn-ErrorType AccessDeniedException or "
        "UnrecognizedClientException).",
        summary="AWS does not recognise the access key id or the session token the "
        "request was signed with",
        fix=(
            "Use an access key that exists and is active in this account "
            "(aws sts get-caller-identity shows which one the client uses).",
            "Temporary credentials (an assumed role, SSO) need their session token "
            "in X-Amz-Security-Token, and expire: fetch new ones.",
        ),
        source=_AWS_403,
        statuses=frozenset({403}),
        headers=(("x-amzn-errortype", r"^(AccessDenied|UnrecognizedClient)Exception"),),
        message=r"security token included in the request is invalid",
    ),
    Signature(
        cause="aws-api-key-forbidden",
        platform="AWS API Gateway",
        title="API Gateway refused the API key (or its usage plan)",
        when="A 403 with x-amzn-ErrorType ForbiddenException and "
        '{"message":"Forbidden"}: the method requires an API key and the key sent '
        "is missing, wrong, disabled or in no usage plan for this stage.",
        summary="API Gateway refused the request at its API-key check",
        fix=(
            "Send the key in the x-api-key header (API Gateway reads no other "
            "place unless the API's key source is an authorizer).",
            "Check that the key is enabled and belongs to a usage plan that "
            "includes this API and stage; a key outside any usage plan is refused "
            "the same way as a wrong one.",
            "The same 403 also comes from a WAF rule, a resource policy or a "
            "private API called from outside its VPC endpoint.",
        ),
        source=_AWS_403,
        statuses=frozenset({403}),
        confidence=MEDIUM,
        headers=(("x-amzn-errortype", r"^ForbiddenException"),),
        message=r"^Forbidden$",
        details="aws-api-key",
    ),
    Signature(
        cause="aws-explicit-deny",
        platform="AWS API Gateway",
        title="A policy explicitly denies this caller",
        when="A 403 with x-amzn-ErrorType AccessDeniedException saying the user is "
        "not authorized ... with an explicit deny, or not authorized to perform "
        "execute-api:Invoke.",
        summary="the Lambda authorizer's policy or the API's resource policy denies "
        "this caller for this method and path",
        fix=(
            "Check the policy the Lambda authorizer returns: its Resource must "
            "cover this method and path. With authorizer caching on, a policy "
            "built for one path is reused for others: return a wildcard resource "
            "or turn caching off.",
            "For IAM authorization, give the caller execute-api:Invoke on this "
            "API's ARN, and check the API's resource policy.",
        ),
        source=_AWS_403,
        statuses=frozenset({403}),
        headers=(("x-amzn-errortype", r"^AccessDeniedException"),),
        message=r"explicit deny|not authorized to perform: execute-api:Invoke",
    ),
    # WordPress REST API ---------------------------------------------------------------
    Signature(
        cause="wordpress-application-password-refused",
        platform="WordPress REST API",
        title="WordPress refused the Application Password",
        when="A 401 from a /wp-json/ route with code 'incorrect_password': the user "
        "exists and none of its Application Passwords matches.",
        summary="WordPress refused the password as an Application Password",
        fix=(
            "Use an Application Password (Users → Profile → Application "
            "Passwords), not the login password: the REST API checks only "
            "Application Passwords on Basic credentials.",
            "Send it as Basic USER:APP_PASSWORD; the spaces WordPress shows in it "
            "may be kept or removed.",
        ),
        source=_WP_USER + " (wp_authenticate_application_password)",
        statuses=frozenset({401}),
        code=r"incorrect_password",
        path=WORDPRESS_REST,
        details="wordpress-password",
    ),
    Signature(
        cause="wordpress-unknown-user",
        platform="WordPress REST API",
        title="WordPress does not know the user name or e-mail",
        when="A 401 from a /wp-json/ route with code 'invalid_username' or "
        "'invalid_email'.",
        summary="WordPress knows no user by the name or e-mail the Basic "
        "credentials carry",
        fix=(
            "Use the account's login name (or its e-mail address) as the Basic "
            "user, not its display name.",
        ),
        source=_WP_USER + " (wp_authenticate_application_password)",
        statuses=frozenset({401}),
        code=r"invalid_username|invalid_email",
        path=WORDPRESS_REST,
    ),
    Signature(
        cause="wordpress-application-passwords-unavailable",
        platform="WordPress REST API",
        title="Application Passwords are turned off on this site or account",
        when="A 401 from a /wp-json/ route with code "
        "'application_passwords_disabled' or "
        "'application_passwords_disabled_for_user'.",
        summary="WordPress has Application Passwords turned off for this site or "
        "this account",
        fix=(
            "WordPress offers Application Passwords only over HTTPS, or with "
            "WP_ENVIRONMENT_TYPE set to 'local'.",
            "A plugin or the wp_is_application_passwords_available(_for_user) "
            "filters may turn them off; ask the site's administrator.",
        ),
        source=_WP_USER + " (wp_authenticate_application_password)",
        statuses=frozenset({401}),
        fault=Fault.SERVER,
        code=r"application_passwords_disabled(_for_user)?",
        path=WORDPRESS_REST,
    ),
    Signature(
        cause="wordpress-capability-missing",
        platform="WordPress REST API",
        title="The WordPress user lacks the capability",
        when="A 403 from a /wp-json/ route with code 'rest_forbidden' or "
        "'rest_cannot_*' answering a request with credentials: WordPress knew the "
        "user (at 401 it would not have).",
        summary="WordPress authenticated the user, whose role lacks the capability "
        "for this request",
        fix=(
            "Give the user a role with the capability (editing others' posts needs "
            "Editor; settings and users need Administrator), or call as a user "
            "who has it.",
        ),
        source=_WP_REST + " (rest_authorization_required_code)",
        statuses=frozenset({403}),
        code=r"rest_forbidden|rest_cannot_\w+",
        path=WORDPRESS_REST,
        sent="credentials",
    ),
    Signature(
        cause="wordpress-jwt-refused",
        platform="WordPress JWT plugins",
        title="A WordPress JWT plugin refused the token",
        when="A 401 or 403 from a /wp-json/ route with a 'jwt_auth_*' code other "
        "than jwt_auth_no_auth_header (which means the header never arrived).",
        summary="the WordPress JWT plugin refused the token",
        fix=(
            "Get a new token from /wp-json/jwt-auth/v1/token and send it as "
            "'Authorization: Bearer <token>'.",
            "jwt_auth_bad_config means the site lacks JWT_AUTH_SECRET_KEY in "
            "wp-config.php; jwt_auth_bad_iss means the token was issued by another "
            "site URL.",
        ),
        source="https://github.com/Tmeister/wp-api-jwt-auth/blob/master/public/"
        "class-jwt-auth-public.php",
        statuses=frozenset({401, 403}),
        code=r"jwt_auth_(?!no_auth_header)\w+",
        path=WORDPRESS_REST,
    ),
    # Kubernetes -----------------------------------------------------------------------
    Signature(
        cause="kubernetes-unauthenticated",
        platform="Kubernetes API server",
        title="The Kubernetes API server did not accept the credential",
        when="A 401 Status object (kind Status, reason Unauthorized) answering a "
        "request with credentials. The API server never says why in the response.",
        summary="the Kubernetes API server could not authenticate the credential "
        "(its log says why; the response never does)",
        fix=(
            "Check the token's lifetime: service-account tokens from 'kubectl "
            "create token' or projected volumes expire (an hour by default).",
            "Check that the kubeconfig context points at the cluster that issued "
            "the credential, and that a client certificate is signed by this "
            "cluster's CA and not expired. 'kubectl auth whoami' tests it.",
        ),
        source=_K8S_ERRORS,
        statuses=frozenset({401}),
        fields=(("kind", r"Status"), ("reason", r"Unauthorized")),
        sent="credentials",
    ),
    Signature(
        cause="kubernetes-rbac-forbidden",
        platform="Kubernetes API server",
        title="Kubernetes RBAC does not allow this user the verb on the resource",
        when='A 403 Status object (reason Forbidden) saying User "NAME" cannot VERB '
        "resource ... for an authenticated user.",
        summary="Kubernetes authenticated the user, but RBAC does not allow this "
        "verb on this resource",
        fix=(
            "Bind a Role or ClusterRole granting the verb on the resource to the "
            "user or service account; test with 'kubectl auth can-i VERB RESOURCE "
            "--as USER -n NAMESPACE'.",
        ),
        source=_K8S_ERRORS + " (forbiddenMessage)",
        statuses=frozenset({403}),
        fields=(("kind", r"Status"), ("reason", r"Forbidden")),
        details="kubernetes-user",
    ),
    # GitHub ---------------------------------------------------------------------------
    Signature(
        cause="github-bad-credentials",
        platform="GitHub REST API",
        title="GitHub refused the token",
        when='A 401 with {"message": "Bad credentials", "documentation_url": '
        '"https://docs.github.com/..."}.',
        summary="GitHub refused the token: revoked, expired, mistyped, or for "
        "another GitHub host",
        fix=(
            "Check the token with 'gh auth status' or GET /user; fine-grained "
            "tokens expire, and unused OAuth tokens are revoked after a year.",
            "A github.com token does not work on GitHub Enterprise Server, nor the "
            "reverse.",
            "Many refused attempts in a row make GitHub refuse even a good token "
            "for a while.",
        ),
        source=_GITHUB_AUTH,
        statuses=frozenset({401}),
        message=r"^Bad credentials$",
        fields=(("documentation_url", r"https://(docs|developer)\.github\.com.*"),),
    ),
    Signature(
        cause="github-sso-required",
        platform="GitHub REST API",
        title="The token is not authorized for the organization's SAML SSO",
        when="A 403 with an X-GitHub-SSO: required header.",
        summary="the organization enforces SAML single sign-on and this token is "
        "not authorized for it",
        fix=(
            "Authorize the token for the organization: Settings → Developer "
            "settings → Personal access tokens → Configure SSO, or follow the url "
            "in the X-GitHub-SSO header.",
        ),
        source=_GITHUB_AUTH + "#personal-access-tokens-and-saml-sso",
        statuses=frozenset({403}),
        headers=(("x-github-sso", r"^required"),),
    ),
    Signature(
        cause="github-login-attempts-exceeded",
        platform="GitHub REST API",
        title="GitHub is refusing all attempts after too many bad ones",
        when="A 403 saying 'Maximum number of login attempts exceeded'.",
        summary="GitHub is temporarily refusing every authentication attempt for "
        "this user after too many refused ones",
        fix=(
            "Stop retrying with the refused credential, fix it, then wait before "
            "trying again: the block also refuses valid credentials.",
        ),
        source=_GITHUB_AUTH + "#failed-login-limit",
        statuses=frozenset({403}),
        message=r"Maximum number of login attempts exceeded",
    ),
    # Google APIs ----------------------------------------------------------------------
    Signature(
        cause="google-invalid-credentials",
        platform="Google APIs",
        title="Google refused the access token",
        when='A 401 with error.status "UNAUTHENTICATED" and "Request had invalid '
        'authentication credentials".',
        summary="Google refused the access token: expired, revoked, or not an "
        "OAuth access token",
        fix=(
            "Google access tokens live an hour: refresh them (client libraries do "
            "this; a token copied from gcloud auth print-access-token does not).",
            "Send an OAuth access token (ya29....); an ID token, an API key or a "
            "service-account key file in the Bearer field is refused.",
        ),
        source=_GOOGLE_ERRORS,
        statuses=frozenset({401}),
        code=r"UNAUTHENTICATED",
        message=r"invalid authentication credentials",
    ),
    Signature(
        cause="google-insufficient-scopes",
        platform="Google APIs",
        title="The Google access token lacks an OAuth scope",
        when='A 403 with error.status "PERMISSION_DENIED" and "Request had '
        'insufficient authentication scopes".',
        summary="the Google access token was issued without the OAuth scope this "
        "API needs",
        fix=(
            "Request a token with the API's scope (for service accounts often "
            "https://www.googleapis.com/auth/cloud-platform); on Compute Engine "
            "the VM's access scopes also limit its default service account.",
        ),
        source=_GOOGLE_ERRORS,
        statuses=frozenset({403}),
        code=r"PERMISSION_DENIED",
        message=r"insufficient authentication scopes",
    ),
    Signature(
        cause="google-service-disabled",
        platform="Google APIs",
        title="The Google API is not enabled in the credential's project",
        when='A 403 with error.status "PERMISSION_DENIED" saying the API has not '
        "been used in the project before or is disabled.",
        summary="the API is not enabled in the Google Cloud project the credential "
        "belongs to",
        fix=(
            "Enable the API in that project (gcloud services enable "
            "API.googleapis.com --project PROJECT), or use a credential, or a "
            "quota project, from a project where it is enabled.",
        ),
        source=_GOOGLE_ERRORS,
        statuses=frozenset({403}),
        fault=Fault.SERVER,
        code=r"PERMISSION_DENIED",
        message=r"has not been used in project|is disabled",
    ),
    # Azure Resource Manager -----------------------------------------------------------
    Signature(
        cause="azure-token-expired",
        platform="Azure Resource Manager",
        title="Azure Resource Manager: the access token has expired",
        when='A 401 with error.code "ExpiredAuthenticationToken".',
        summary="Azure Resource Manager refused the access token as expired",
        fix=(
            "Get a new token (az account get-access-token --resource "
            "https://management.azure.com/); SDK credentials refresh by "
            "themselves, a pasted token does not. Long operations must refresh "
            "while polling.",
        ),
        source=_AZURE_ERRORS,
        statuses=frozenset({401}),
        code=r"ExpiredAuthenticationToken",
        details="azure-token",
    ),
    Signature(
        cause="azure-token-wrong-audience",
        platform="Azure Resource Manager",
        title="Azure Resource Manager: the token is for another resource",
        when='A 401 with error.code "InvalidAuthenticationTokenAudience".',
        summary="the access token was issued for another resource, not for Azure "
        "Resource Manager",
        fix=(
            "Request the token for https://management.azure.com/ (scope "
            "https://management.azure.com/.default); a Microsoft Graph or custom "
            "API token is refused.",
        ),
        source=_AZURE_ERRORS,
        statuses=frozenset({401}),
        code=r"InvalidAuthenticationTokenAudience",
        details="azure-token",
    ),
    Signature(
        cause="azure-token-wrong-tenant",
        platform="Azure Resource Manager",
        title="Azure Resource Manager: the token is from another tenant",
        when='A 401 with error.code "InvalidAuthenticationTokenTenant".',
        summary="the access token was issued by another Microsoft Entra tenant "
        "than the one that owns this subscription",
        fix=(
            "Sign in to the subscription's tenant (az login --tenant TENANT_ID) "
            "and request the token there.",
        ),
        source=_AZURE_ERRORS,
        statuses=frozenset({401}),
        code=r"InvalidAuthenticationTokenTenant",
        details="azure-token",
    ),
    Signature(
        cause="azure-token-invalid",
        platform="Azure Resource Manager",
        title="Azure Resource Manager cannot use the access token",
        when='A 401 with error.code "InvalidAuthenticationToken".',
        summary="Azure Resource Manager found the access token invalid",
        fix=(
            "Send an access token from Microsoft Entra ID for "
            "https://management.azure.com/, whole and unmodified; an ID token or "
            "a token from another cloud (Azure Government, China) is refused.",
        ),
        source=_AZURE_ERRORS,
        statuses=frozenset({401}),
        code=r"InvalidAuthenticationToken",
        details="azure-token",
    ),
    Signature(
        cause="azure-authorization-failed",
        platform="Azure Resource Manager",
        title="Azure RBAC does not allow this action on this scope",
        when='A 403 with error.code "AuthorizationFailed".',
        summary="Azure authenticated the caller, but no role assignment allows "
        "this action on this scope",
        fix=(
            "Assign the caller a role with the action on the scope (or a parent "
            "scope); new role assignments can take several minutes to apply.",
        ),
        source=_AZURE_ERRORS,
        statuses=frozenset({403}),
        code=r"AuthorizationFailed",
    ),
    # OAuth / OpenID Connect providers -------------------------------------------------
    Signature(
        cause="oauth-client-authentication-failed",
        platform="OAuth token endpoints (Auth0, Okta, Keycloak, Entra ID)",
        title="The token endpoint refused the client's own credentials",
        when="A 401 from a token endpoint (/oauth/token, /oauth2/.../v1/token, "
        "/protocol/openid-connect/token, ...) with invalid_client, "
        "unauthorized_client or access_denied (RFC 6749 §5.2).",
        summary="the authorization server refused the client's credentials "
        "(client_id and client_secret), not the user's",
        fix=(
            "Check the client secret: rotated, expired, or copied from another "
            "environment or tenant.",
            "Use the client authentication method the server expects "
            "(client_secret_basic in Authorization, or client_secret_post in the "
            "body); with Basic, form-urlencode id and secret before base64 (RFC "
            "6749 §2.3.1).",
            "A public client (SPA, mobile) has no secret: use PKCE instead.",
        ),
        source="https://www.rfc-editor.org/rfc/rfc6749#section-5.2; Keycloak "
        'answers {"error":"unauthorized_client","error_description":'
        '"Invalid client or Invalid client credentials"} '
        "(https://github.com/keycloak/keycloak/issues/16923)",
        statuses=frozenset({401}),
        code=r"invalid_client|unauthorized_client|access_denied",
        path=TOKEN_ENDPOINT,
    ),
    Signature(
        cause="okta-invalid-token",
        platform="Okta",
        title="Okta refused the API token or access token (E0000011)",
        when='A 401 with errorCode "E0000011" ("Invalid token provided").',
        summary="Okta refused the token: an API token that is wrong, revoked or "
        "expired, or an access token its API does not accept",
        fix=(
            "Okta API tokens go in 'Authorization: SSWS <token>'; they expire "
            "after 30 days unused and die with the admin who made them.",
            "OAuth access tokens for Okta's own APIs must come from the org "
            "authorization server (issuer https://ORG.okta.com, not "
            "/oauth2/default) with the okta.* scopes.",
        ),
        source="https://developer.okta.com/docs/reference/error-codes/#E0000011",
        statuses=frozenset({401}),
        code=r"E0000011",
    ),
    Signature(
        cause="auth0-management-token-refused",
        platform="Auth0 Management API",
        title="The Auth0 Management API refused the token",
        when='A 401 from /api/v2/ with {"statusCode":401,"error":"Unauthorized",'
        '"message":"Invalid token" (or "Expired token ...", "Bad audience ...")}.',
        summary="the Auth0 Management API refused the token",
        fix=(
            "Request the token with the client credentials grant for the audience "
            "https://TENANT.auth0.com/api/v2/ (the Management API), not for your "
            "own API; a user's access token is refused.",
            "Management API tokens expire (24 hours by default): fetch a new one.",
        ),
        source="https://github.com/auth0/auth0-authorization-extension/issues/231",
        statuses=frozenset({401}),
        fields=(("statusCode", r"401"), ("error", r"Unauthorized")),
        path=r"/api/v2/",
    ),
)


# --- servers saying that no credential arrived --------------------------------------

ABSENCES: tuple[Absence, ...] = (
    Absence(
        "Django REST framework",
        frozenset({401, 403}),
        "https://github.com/encode/django-rest-framework/blob/master/"
        "rest_framework/exceptions.py (NotAuthenticated)",
        message=r"^Authentication credentials were not provided\.?$",
    ),
    Absence(
        "WordPress",
        frozenset({401}),
        _WP_REST + " (rest_cookie_check_errors)",
        code=r"rest_not_logged_in",
    ),
    Absence(
        "WordPress",
        frozenset({401}),
        _WP_REST + " (rest_authorization_required_code: 401 only when no user is "
        "logged in)",
        code=r"rest_forbidden|rest_cannot_\w+",
        path=WORDPRESS_REST,
    ),
    Absence(
        "WordPress JWT plugin",
        frozenset({401, 403}),
        "https://github.com/Tmeister/wp-api-jwt-auth/blob/master/public/"
        "class-jwt-auth-public.php",
        code=r"jwt_auth_no_auth_header",
    ),
    Absence(
        "Kubernetes API server",
        frozenset({403}),
        _K8S_ERRORS,
        message=r'User "system:anonymous"',
    ),
    Absence(
        "Google APIs",
        frozenset({401}),
        _GOOGLE_ERRORS,
        message=r"missing required authentication credential",
    ),
    Absence(
        "Azure Resource Manager",
        frozenset({401}),
        _AZURE_ERRORS,
        code=r"AuthenticationFailed",
        message=r"'Authorization' header is missing",
    ),
    Absence(
        "GitHub REST API",
        frozenset({401}),
        _GITHUB_AUTH,
        message=r"^Requires authentication$",
    ),
    Absence(
        "Spring Security",
        frozenset({401, 403}),
        "https://github.com/spring-projects/spring-security/blob/main/core/src/"
        "main/resources/org/springframework/security/messages.properties",
        message=r"Full authentication is required to access this resource",
    ),
    Absence(
        "express-jwt",
        frozenset({401}),
        "https://github.com/auth0/express-jwt/blob/master/src/index.ts",
        message=r"No authorization token was found",
    ),
    Absence(
        "Laravel",
        frozenset({401}),
        "https://github.com/laravel/framework/blob/master/src/Illuminate/"
        "Foundation/Exceptions/Handler.php (unauthenticated)",
        message=r"^Unauthenticated\.?$",
    ),
)


# --- intermediaries that drop Authorization -----------------------------------------

INTERMEDIARIES: tuple[Intermediary, ...] = (
    Intermediary(
        "Apache httpd",
        "server",
        r"Apache",
        "Apache does not hand Authorization to CGI or FastCGI applications (PHP "
        "through php-fpm or mod_fcgid) unless told to: 'CGIPassAuth On' (2.4.13+) "
        'in the <Directory>, or \'SetEnvIf Authorization "(.*)" '
        "HTTP_AUTHORIZATION=$1'.",
        "https://httpd.apache.org/docs/2.4/mod/core.html#cgipassauth",
    ),
    Intermediary(
        "PHP",
        "x-powered-by",
        r"PHP",
        "PHP sees the header only if the web server passes it to FastCGI/CGI: "
        "Apache 'CGIPassAuth On'; nginx 'fastcgi_param HTTP_AUTHORIZATION "
        "$http_authorization;'. WordPress's .htaccess fix is 'RewriteRule .* - "
        "[E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]'.",
        "https://www.php.net/manual/en/features.http-auth.php",
    ),
    Intermediary(
        "nginx",
        "server",
        r"nginx",
        "Check nginx's proxy_set_header in this location: "
        "'proxy_set_header Authorization \"\";' removes the header (an empty "
        "value is not passed), and a proxy_set_header at this level replaces "
        "those inherited from above. For PHP-FPM pass it with 'fastcgi_param "
        "HTTP_AUTHORIZATION $http_authorization;'.",
        "https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_set_header",
    ),
    Intermediary(
        "Amazon CloudFront",
        "via",
        r"CloudFront",
        "CloudFront forwards Authorization to the origin only when the cache "
        "policy (or origin request policy) includes it: add the Authorization "
        "header to the cache key.",
        "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/"
        "header-caching.html",
    ),
    Intermediary(
        "a proxy",
        "via",
        r".",
        "A proxy named in the Via header sits in front of the application: check "
        "that it forwards the Authorization header (RFC 9110 §7.6.3).",
        "https://www.rfc-editor.org/rfc/rfc9110#section-7.6.3",
    ),
)

UNDERSCORE_HEADERS = Intermediary(
    "nginx or Apache (header names with underscores)",
    "",
    r"_",
    "nginx ignores request headers whose names contain '_' unless "
    "'underscores_in_headers on;' is set; Apache 2.4 drops them too when it hands "
    "headers to CGI, FastCGI or proxied applications. Rename the header with '-' "
    "(X-Api-Key, not X_API_KEY).",
    "https://nginx.org/en/docs/http/ngx_http_core_module.html#underscores_in_headers",
)


# --- clients following redirects ----------------------------------------------------

REDIRECT_RULES: tuple[RedirectRule, ...] = (
    RedirectRule(
        "python-requests",
        r"python-requests/",
        "requests removes Authorization when a redirect changes the host, or the "
        "scheme or port (except http to https on the default ports), then applies "
        ".netrc for the new host (Session.rebuild_auth, should_strip_auth).",
        "Call the final URL directly, or send a new request with auth= to the "
        "new origin once you know it is the right one.",
        "https://github.com/psf/requests/blob/main/src/requests/sessions.py",
    ),
    RedirectRule(
        "curl",
        r"^curl/",
        "curl -L sends -u credentials and a custom Authorization header only to "
        "the host it started with (since 7.83.0 also only to the same port and "
        "scheme).",
        "Call the final URL, or add --location-trusted if every host the redirect "
        "can lead to may see the credential.",
        "https://curl.se/docs/manpage.html#--location-trusted",
    ),
    RedirectRule(
        "a browser (Fetch)",
        r"Mozilla/",
        "Fetch removes Authorization from a request redirected to another origin "
        "(the Fetch standard's HTTP-redirect fetch).",
        "Fetch the final URL, or have the server redirect within the same origin.",
        "https://fetch.spec.whatwg.org/#http-redirect-fetch",
    ),
    RedirectRule(
        "Postman",
        r"PostmanRuntime/",
        "Postman keeps Authorization across a redirect to another host only when "
        "the request setting 'Follow Authorization header' is on.",
        "Call the final URL, or turn on 'Follow Authorization header' for this "
        "request.",
        "https://learning.postman.com/docs/sending-requests/create-requests/"
        "request-settings/",
    ),
    RedirectRule(
        "OkHttp",
        r"okhttp/",
        "OkHttp drops Authorization when a redirect leads to another host, port "
        "or scheme (RetryAndFollowUpInterceptor).",
        "Call the final URL, or re-add the header in an interceptor for hosts you "
        "trust.",
        "https://github.com/square/okhttp/blob/master/okhttp/src/commonJvmAndroid/"
        "kotlin/okhttp3/internal/http/RetryAndFollowUpInterceptor.kt",
    ),
    RedirectRule(
        "Go net/http",
        r"Go-http-client/",
        "Go's http.Client forwards Authorization on a redirect only to the same "
        "domain or its subdomains.",
        "Call the final URL, or re-add the header in Client.CheckRedirect for "
        "hosts you trust.",
        "https://pkg.go.dev/net/http#Client",
    ),
)


# --- letting CORS preflights through ------------------------------------------------

PREFLIGHT_FIXES: tuple[PreflightFix, ...] = (
    PreflightFix(
        "Express",
        "x-powered-by",
        r"Express",
        "Express: mount the cors middleware before the authentication middleware "
        "(app.use(cors(...)) first), so OPTIONS is answered before auth runs.",
        "https://github.com/expressjs/cors#enabling-cors-pre-flight",
    ),
    PreflightFix(
        "nginx",
        "server",
        r"nginx",
        "nginx: answer OPTIONS in the location before authentication, e.g. 'if "
        "($request_method = OPTIONS) { add_header Access-Control-Allow-Origin ...; "
        "return 204; }' (the rewrite phase runs before auth_basic and "
        "auth_request).",
        "https://nginx.org/en/docs/dev/development_guide.html#http_phases",
    ),
    PreflightFix(
        "ASP.NET Core",
        "server",
        r"Kestrel",
        "ASP.NET Core: call app.UseCors() before app.UseAuthentication() and "
        "app.UseAuthorization().",
        "https://learn.microsoft.com/aspnet/core/fundamentals/middleware/"
        "#middleware-order",
    ),
    PreflightFix(
        "Apache httpd",
        "server",
        r"Apache",
        "Apache: require authentication for every method but OPTIONS: "
        "'<LimitExcept OPTIONS> Require valid-user </LimitExcept>'.",
        "https://httpd.apache.org/docs/2.4/mod/core.html#limitexcept",
    ),
    PreflightFix(
        "AWS API Gateway",
        "x-amzn-errortype",
        r".",
        "API Gateway: enable CORS on the resource, which adds an OPTIONS method "
        "with authorization NONE (REST APIs); HTTP APIs answer preflights "
        "themselves once CORS is configured.",
        "https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html",
    ),
    PreflightFix(
        "Spring Security",
        "",
        r"",
        "Spring Security: enable http.cors(...) so that its CorsFilter answers "
        "preflights before authentication.",
        "https://docs.spring.io/spring-security/reference/servlet/integrations/"
        "cors.html",
    ),
    PreflightFix(
        "Django",
        "",
        r"",
        "Django: put django-cors-headers' CorsMiddleware above any middleware "
        "that can answer 401/403.",
        "https://github.com/adamchainz/django-cors-headers#setup",
    ),
)

RESPONSE_HEADERS: tuple[str, ...] = tuple(
    dict.fromkeys(
        name
        for name in (
            *(header for s in SIGNATURES for header, _ in s.headers),
            *(i.header for i in INTERMEDIARIES),
            *(p.header for p in PREFLIGHT_FIXES),
            "access-control-allow-origin",
        )
        if name
    )
)
"""Response headers the rules read, for the evidence to keep."""
