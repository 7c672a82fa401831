"""Generate docs/causes.md from the catalogue, so the docs cannot drift.

Run `uv run python -m authdiag.docs > docs/causes.md` after changing a cause;
a test fails while the file and the catalogue disagree.
"""

from __future__ import annotations

from authdiag.catalogue import CAUSES
from authdiag.engine import diagnose  # noqa: F401  (loads the rules)
from authdiag.platforms import SIGNATURES

HEADER = """\
# Causes

Every cause authdiag can name, in the order its rules run. A flow may get several
findings; they are ranked by confidence (high, medium, low), ties broken by this
order, and the first one is the verdict. A cause marked *routine* is a normal
protocol step: the flow is annotated but not marked, and logged at INFO.

Each finding's evidence lines say what they rest on: `request:` (what the client
sent), `token:` (claims inside the JWT it sent), `challenge:` (WWW-Authenticate or
Proxy-Authenticate), `body:` (the response body), `response:` (other response
headers), `server clock:` (the response's Date header), `history:` (earlier
flows of the same client at the same origin: redirects, acceptances, refusals),
`tls:` (what mitmproxy's TLS connections showed: the server's certificate request
and alerts, the certificates presented) and `error:` (mitmproxy's error for a
flow that got no response).

This file is generated from the rules in `addon/authdiag/rules/`:
`uv run python -m authdiag.docs > docs/causes.md`.
"""


def render() -> str:
    sections = [HEADER]
    for known in CAUSES:
        lines = [f"## `{known.id}`", "", f"**{known.title}**", ""]
        if known.routine:
            lines += ["*Routine: annotated, not marked.*", ""]
        lines += [
            f"- **When:** {known.triggers}",
            f"- **Evidence shown:** {known.shows}",
            f"- **Fix:** {known.remedy}",
        ]
        if known.fallback:
            lines.append("- **Shown only** when no other cause fits.")
        elif known.yields_to:
            lines.append(f"- **Gives way to:** {_yields_text(known.yields_to)}")
        sections.append("\n".join(lines) + "\n")
    sections.append(_platform_table())
    return "\n".join(sections)


def _yields_text(others: tuple[str, ...]) -> str:
    """The causes a cause gives way to; every platform cause in a few words."""
    platform = {signature.cause for signature in SIGNATURES}
    named = ", ".join(f"`{other}`" for other in others if other not in platform)
    if not platform <= set(others):
        return named
    return f"{named}, and every platform cause (see the table of platforms below)"


def _platform_table() -> str:
    """One row per platform signature: its cause, status, and where its shape is
    documented (the data is authdiag/platforms.py)."""
    rows = [
        "## Platforms",
        "",
        "Each platform cause above comes from a signature in "
        "`addon/authdiag/platforms.py`: how the platform answers, and the source "
        "that shape was taken from.",
        "",
        "| platform | cause | status | source |",
        "|---|---|---|---|",
    ]
    for signature in SIGNATURES:
        statuses = ", ".join(str(status) for status in sorted(signature.statuses))
        source = signature.source.replace("|", "\\|")
        rows.append(
            f"| {signature.platform} | `{signature.cause}` | {statuses} | {source} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(render(), end="")
