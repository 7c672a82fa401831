"""Generate docs/causes.md from the catalogue, so the docs cannot drift.

Run `uv run python -m authdiag.docs > docs/causes.md` after changing a cause;
a test fails while the file and the catalogue disagree.
"""

from __future__ import annotations

from authdiag.catalogue import CAUSES
from authdiag.engine import diagnose  # noqa: F401  (loads the rules)

HEADER = """\
# Causes

Every cause authdiag can name, in the order its rules run. A flow may get several
findings; they are ranked by confidence (high, medium, low), ties broken by this
order, and the first one is the verdict. A cause marked *routine* is a normal
protocol step: the flow is annotated but not marked, and logged at INFO.

Each finding's evidence lines say what they rest on: `request:` (what the client
sent), `token:` (claims inside the JWT it sent), `challenge:` (WWW-Authenticate or
Proxy-Authenticate), `body:` (the response body), `response:` (other response
headers) and `server clock:` (the response's Date header).

This file is generated from `addon/authdiag/rules.py`:
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
        if known.yields_to == ("*",):
            lines.append("- **Shown only** when no other cause fits.")
        elif known.yields_to:
            others = ", ".join(f"`{other}`" for other in known.yields_to)
            lines.append(f"- **Gives way to:** {others}")
        sections.append("\n".join(lines) + "\n")
    return "\n".join(sections)


if __name__ == "__main__":
    print(render(), end="")
