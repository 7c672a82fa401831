"""Causes in the shape of what was sent: malformed Authorization and Basic."""

from __future__ import annotations

from authdiag import describe
from authdiag.catalogue import Conclusion, cause
from authdiag.credentials import BasicShape, Shape
from authdiag.evidence import Evidence
from authdiag.findings import Fault
from authdiag.rules.common import (
    HIGH,
    REFUSALS,
    present,
)

BASIC_EXPLANATIONS: dict[BasicShape, tuple[str, str]] = {
    BasicShape.INVALID_BASE64: (
        "the Basic credential is not valid base64",
        "Encode 'user:password' with standard base64 (curl -u USER does it).",
    ),
    BasicShape.NOT_ENCODED: (
        "the Basic credential is 'user:password' in clear, not base64-encoded",
        "Base64-encode 'user:password' (RFC 7617 §2), or let the client do it: "
        "curl -u USER, requests auth=(user, password).",
    ),
    BasicShape.NO_COLON: (
        "the decoded Basic credential has no ':' between user and password",
        "Encode 'user:password' with the colon; an API key alone is usually sent "
        "as the user or the password, as the service documents.",
    ),
    BasicShape.NOT_UTF8: (
        "the decoded Basic credential is not UTF-8",
        "Encode the user and password as UTF-8 before base64 (RFC 7617 §2.1, "
        'charset="UTF-8").',
    ),
    BasicShape.CONTROL_CHARACTER: (
        "the Basic user or password contains a control character",
        "Trim the user and password; RFC 7617 §2 forbids control characters "
        "(a newline from a file or variable is the usual culprit).",
    ),
    BasicShape.EMPTY_USER: (
        "the Basic credential has an empty user-id",
        "Check the variable holding the user name.",
    ),
}


@cause(
    "basic-malformed",
    title="The Basic credential is malformed",
    triggers=(
        "A Basic credential that is not base64, not 'user:password', not UTF-8, or "
        "has control characters (RFC 7617)."
    ),
    shows=(
        "The Basic credential (user-id when it decodes; never the password) and "
        "each problem found."
    ),
    remedy="Base64-encode 'user:password' as UTF-8, without newlines.",
    needs=("basic",),
)
def basic_malformed(ev: Evidence) -> Conclusion | None:
    sent = ev.authorization
    if ev.status not in REFUSALS or sent is None or sent.basic is None:
        return None
    shapes = [s for s in sent.basic.problems if s in BASIC_EXPLANATIONS]
    if not shapes:
        return None
    explained = [BASIC_EXPLANATIONS[s] for s in shapes]
    return Conclusion(
        confidence=HIGH,
        summary=explained[0][0],
        evidence=present(
            f"request: Authorization: {describe.credential(sent)}",
            *(f"request: {what}" for what, _ in explained[1:]),
            describe.challenges_line(ev.challenges),
        ),
        fix=tuple(dict.fromkeys(how for _, how in explained)),
        fault=Fault.CLIENT,
    )


SHAPE_EXPLANATIONS: dict[Shape, tuple[str, str]] = {
    Shape.EMPTY: (
        "the Authorization header is present but empty",
        "Check the variable that should hold the credential; it is unset.",
    ),
    Shape.NO_SCHEME: (
        "the credential has no scheme: a bare token instead of 'Bearer <token>'",
        "Send 'Authorization: Bearer <token>' (or the scheme the server names).",
    ),
    Shape.DOUBLED_SCHEME: (
        "the scheme is written twice ('Bearer Bearer …')",
        "The stored value already includes the scheme: send it as is, or strip "
        "'Bearer ' from the stored token before adding it.",
    ),
    Shape.EMPTY_CREDENTIAL: (
        "the scheme is there but the credential after it is empty",
        "The token variable is empty or undefined when the header is built.",
    ),
    Shape.QUOTED: (
        "the credential is wrapped in quotes",
        "Remove the quotes: tokens are sent bare (RFC 6750 §2.1); quotes often "
        "come from copying a JSON string.",
    ),
    Shape.INNER_WHITESPACE: (
        "the credential contains a space or tab",
        "A token never contains whitespace: check for concatenated values or a "
        "token split across lines.",
    ),
    Shape.CONTROL_CHARACTER: (
        "the header contains a newline or another control character",
        "Trim the value (a trailing newline often comes from reading a file or "
        "an environment variable).",
    ),
    Shape.JSON: (
        "a JSON document was sent instead of the token",
        "Send only the access_token field of the token response, not the whole "
        "response.",
    ),
    Shape.BAD_TOKEN68: (
        "the credential has characters a token cannot contain",
        "Bearer and Basic credentials use only letters, digits and -._~+/= "
        "(RFC 6750 §2.1): check for URL-encoding or stray punctuation.",
    ),
}


@cause(
    "authorization-malformed",
    title="The Authorization header is malformed",
    triggers=(
        "The Authorization value has a shape servers reject: empty, no scheme, "
        "'Bearer Bearer', quotes, whitespace or newlines inside, pasted JSON, "
        "characters outside token68, or the header sent more than once."
    ),
    shows=(
        "The credential described by scheme, length and fingerprint, and each shape"
        " problem found."
    ),
    remedy="Send exactly 'Authorization: <scheme> <credential>' once, trimmed.",
    needs=("authorization",),
)
def authorization_malformed(ev: Evidence) -> Conclusion | None:
    sent = ev.authorization
    if ev.status not in REFUSALS or sent is None:
        return None
    shapes = [s for s in sent.problems if s in SHAPE_EXPLANATIONS]
    repeated = ev.authorization_count > 1
    if not shapes and not repeated:
        return None
    explained = [SHAPE_EXPLANATIONS[s] for s in shapes]
    if repeated:
        explained.append(
            (
                f"the request carries {ev.authorization_count} Authorization headers",
                "Send one Authorization header; a client library and your code "
                "both adding one is the usual cause.",
            )
        )
    return Conclusion(
        confidence=HIGH,
        summary=explained[0][0],
        evidence=present(
            f"request: Authorization: {describe.credential(sent)}",
            *(f"request: {what}" for what, _ in explained[1:]),
            describe.challenges_line(ev.challenges),
            describe.body_line(ev.body),
        ),
        fix=tuple(dict.fromkeys(how for _, how in explained)),
        fault=Fault.CLIENT,
    )
