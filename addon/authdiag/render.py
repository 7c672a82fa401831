"""Write a report as text (a terminal, 80 columns), Markdown (a ticket) or JSON.

Each renderer writes a refusal as soon as it is handed one and the closing
sections (captures, summary) at the end, so a report over a huge capture is
written with constant memory. The JSON format is documented in
docs/report-json.md; its refusals carry the annotation exactly as the addon
writes it to flow.metadata["authdiag"].
"""

from __future__ import annotations

import json
import textwrap
from typing import IO, Any

from authdiag.captures import CaptureKind
from authdiag.describe import timestamp
from authdiag.report import CaptureResult, Outcome, Refusal, TlsFacts
from authdiag.summary import Summary, Tally, plural, span

WIDTH = 80
REPORT_VERSION = 1
"""Of the JSON report's layout; bumped only if a field changes meaning."""

KIND_NAMES = {CaptureKind.FLOW: "mitmproxy flows", CaptureKind.HAR: "HAR"}

MAX_NAMED = 3
"""Captures without TLS observations are named up to this many, then counted."""
NO_TLS = (
    "hold no TLS observations from authdiag (a HAR never does; a .flow file does "
    "only when authdiag was loaded while it was captured), so causes that show "
    "only in the TLS handshake, such as a missing or rejected client "
    "certificate, cannot be seen in them"
)


def tls_note(captures: list[CaptureResult]) -> str | None:
    """What the captures tell about TLS handshakes, and what they cannot."""
    opened = [result for result in captures if result.kind is not None]
    if not opened:
        return None
    used = sum(result.tls_observed for result in opened)
    lacking = [result.path for result in opened if result.tls is not TlsFacts.RECORDED]
    if not used:
        return f"these captures {NO_TLS}."
    note = (
        "the diagnosis used the TLS observations the live addon saved with "
        f"{plural(used, 'refusal')}."
    )
    if len(lacking) > MAX_NAMED:
        note += f" The other {len(lacking)} captures {NO_TLS}."
    elif lacking:
        note += f" These captures {NO_TLS}: {', '.join(lacking)}."
    return note


def _status(refusal: Refusal) -> str:
    return str(refusal.status) if refusal.status is not None else "(no response)"


def fit(text: str, width: int) -> str:
    """Cut text to width, marking the cut with '…'."""
    return text if len(text) <= width else text[: width - 1] + "…"


# --- text ---------------------------------------------------------------------------


SINGLE_TIME_ROOM = 36
"""What a summary row needs besides its cause: indent, count, 'at' and a time."""


class TextRenderer:
    """Plain text for a terminal, every line within `width` columns."""

    def __init__(self, out: IO[str], width: int = WIDTH) -> None:
        self.out = out
        self.width = width

    def wrap(self, text: str, first: str, rest: str) -> list[str]:
        return textwrap.wrap(
            text,
            self.width,
            initial_indent=first,
            subsequent_indent=rest,
            break_on_hyphens=False,
        ) or [first.rstrip()]

    def refusal(self, refusal: Refusal) -> None:
        verdict, *others = refusal.findings
        lines = [fit(f"{_status(refusal)} {refusal.method} {refusal.url}", self.width)]
        lines += self.wrap(
            f"{refusal.capture}, {refusal.unit} {refusal.index}, sent "
            f"{timestamp(refusal.time)}",
            "  ",
            "    ",
        )
        lines += self.wrap(
            f"→ {verdict['cause']} ({verdict['confidence']} confidence, "
            f"{verdict['fault']} side): {verdict['summary']}",
            "  ",
            "    ",
        )
        lines += self.section("evidence", [f"- {line}" for line in verdict["evidence"]])
        lines += self.section(
            "fix", [f"{n}. {step}" for n, step in enumerate(verdict["fix"], 1)]
        )
        lines += self.section(
            "also possible",
            [f"- {o['cause']} ({o['confidence']}): {o['summary']}" for o in others],
        )
        self.out.write("\n".join(lines) + "\n\n")

    def section(self, title: str, items: list[str]) -> list[str]:
        if not items:
            return []
        lines = [f"  {title}:"]
        for item in items:
            marker = item.split(" ", 1)[0]
            lines += self.wrap(item, "    ", " " * (5 + len(marker)))
        return lines

    def finish(self, outcome: Outcome) -> None:
        lines = ["Captures"]
        for result in outcome.captures:
            lines += self.capture(result)
        note = tls_note(outcome.captures)
        if note is not None:
            lines += ["", *self.wrap(f"TLS: {note}", "", "  ")]
        lines.append("")
        lines += self.summary(outcome.summary)
        self.out.write("\n".join(lines) + "\n")

    def capture(self, result: CaptureResult) -> list[str]:
        kind = " (HAR)" if result.kind is CaptureKind.HAR else ""
        lines = self.wrap(
            f"{result.path}{kind}: {plural(result.flows_read, result.unit)}, "
            f"{result.refusals} listed",
            "  ",
            "    ",
        )
        if result.problem is not None:
            label = "DAMAGED" if result.damage_position is not None else "UNREADABLE"
            text = result.problem
            if result.damage_position is not None:
                before = plural(result.flows_read, result.unit)
                text += (
                    f"; the refusals among the {before} read before it are listed above"
                    if result.refusals
                    else f"; no refusal among the {before} read before it"
                )
            lines += self.wrap(f"{label}: {text}", "    ", "      ")
        if result.skipped_count:
            lines += self.wrap(
                f"SKIPPED {plural(result.skipped_count, 'entry')}:", "    ", "      "
            )
            for reason in result.skipped:
                lines += self.wrap(f"- {reason}", "      ", "        ")
        return lines

    def summary(self, summary: Summary) -> list[str]:
        tallies = summary.tallies()
        if not tallies:
            return ["No refusals listed."]
        hosts = len({tally.host for tally in tallies})
        lines = [
            f"Summary: {plural(len(summary), 'refusal')} on {plural(hosts, 'host')}"
        ]
        # Counts line up under the longest cause of each host, as long as that
        # leaves room for a count and a single time within the width.
        longest: dict[str, int] = {}
        for tally in tallies:
            longest[tally.host] = max(longest.get(tally.host, 0), len(tally.cause))
        shown_host = None
        for tally in tallies:
            if tally.host != shown_host:
                lines.append(f"  {fit(tally.host, self.width - 2)}")
                shown_host = tally.host
            column = min(longest[tally.host] + 1, self.width - SINGLE_TIME_ROOM)
            lines += self.tally_line(tally, column)
        return lines

    def tally_line(self, tally: Tally, column: int) -> list[str]:
        cause_and_count = f"    {tally.cause:<{column}}{tally.count:>4}"
        line = f"{cause_and_count}  {span(tally)}"
        if len(line) <= self.width:
            return [line]
        return [cause_and_count, f"      {span(tally)}"]


# --- Markdown -----------------------------------------------------------------------

MARKDOWN_SPECIAL = str.maketrans(
    {c: f"\\{c}" for c in "\\`*_[]<>|#"},
)


def md(text: str) -> str:
    """Text with Markdown's special characters escaped."""
    return text.translate(MARKDOWN_SPECIAL)


def code(text: str) -> str:
    """Text as a code span, whatever backticks it holds."""
    if "`" not in text:
        return f"`{text}`"
    return f"`` {text} ``"


class MarkdownRenderer:
    """Markdown to paste into an issue or a ticket."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.out.write("# authdiag report\n\n")

    def refusal(self, refusal: Refusal) -> None:
        verdict, *others = refusal.findings
        lines = [
            f"## {_status(refusal)} {refusal.method} {code(refusal.url)}",
            "",
            f"**{code(verdict['cause'])}**: {md(verdict['summary'])}",
            "",
            f"*{verdict['confidence']} confidence, {verdict['fault']} side; "
            f"{md(refusal.capture)}, {refusal.unit} {refusal.index}, sent "
            f"{timestamp(refusal.time)}*",
            "",
            "Evidence:",
            "",
            *(f"- {md(line)}" for line in verdict["evidence"]),
            "",
            "Fix:",
            "",
            *(f"{n}. {md(step)}" for n, step in enumerate(verdict["fix"], 1)),
        ]
        if others:
            lines += ["", "Also possible:", ""]
            lines += [
                f"- {code(o['cause'])} ({o['confidence']}): {md(o['summary'])}"
                for o in others
            ]
        self.out.write("\n".join(lines) + "\n\n")

    def finish(self, outcome: Outcome) -> None:
        lines = ["## Captures", ""]
        for result in outcome.captures:
            lines += self.capture(result)
        note = tls_note(outcome.captures)
        if note is not None:
            lines += ["", f"**TLS:** {md(note)}"]
        lines += ["", "## Summary", ""]
        lines += self.summary(outcome.summary)
        self.out.write("\n".join(lines) + "\n")

    def capture(self, result: CaptureResult) -> list[str]:
        kind = KIND_NAMES[result.kind] if result.kind else "not read"
        lines = [
            f"- {code(result.path)}: {kind}, "
            f"{plural(result.flows_read, result.unit)} read, "
            f"{plural(result.refusals, 'refusal')} listed"
        ]
        if result.problem is not None:
            lines.append(f"  - **Problem:** {md(result.problem)}")
        if result.skipped_count:
            skipped = "; ".join(result.skipped)
            lines.append(
                f"  - **Skipped {plural(result.skipped_count, 'entry')}:** "
                f"{md(skipped)}"
            )
        return lines

    def summary(self, summary: Summary) -> list[str]:
        tallies = summary.tallies()
        if not tallies:
            return ["No refusals listed."]
        lines = ["| host | cause | count | first | last |", "|---|---|---:|---|---|"]
        lines += [
            f"| {md(t.host)} | {code(t.cause)} | {t.count} | "
            f"{timestamp(t.first)} | {timestamp(t.last)} |"
            for t in tallies
        ]
        return lines


# --- JSON ---------------------------------------------------------------------------


class JsonRenderer:
    """One JSON document (docs/report-json.md), written as the report goes."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.count = 0
        self.out.write(
            f'{{\n  "report": "authdiag",\n  "version": {REPORT_VERSION},\n'
            '  "refusals": ['
        )

    def refusal(self, refusal: Refusal) -> None:
        separator = "," if self.count else ""
        self.count += 1
        item = json.dumps(refusal.to_json(), indent=2, ensure_ascii=False)
        self.out.write(f"{separator}\n{textwrap.indent(item, '    ')}")

    def finish(self, outcome: Outcome) -> None:
        closing: dict[str, Any] = {
            "captures": [result.to_json() for result in outcome.captures],
            "summary": [_tally_json(tally) for tally in outcome.summary.tallies()],
            "exit_status": int(outcome.status),
        }
        self.out.write("\n  ]," if self.count else "],")
        for n, (key, value) in enumerate(closing.items()):
            text = json.dumps(value, indent=2, ensure_ascii=False)
            text = textwrap.indent(text, "  ").lstrip()
            comma = "," if n < len(closing) - 1 else ""
            self.out.write(f'\n  "{key}": {text}{comma}')
        self.out.write("\n}\n")


def _tally_json(tally: Tally) -> dict[str, Any]:
    return {
        "host": tally.host,
        "cause": tally.cause,
        "count": tally.count,
        "first": tally.first,
        "last": tally.last,
    }


RENDERERS = {
    "text": TextRenderer,
    "markdown": MarkdownRenderer,
    "json": JsonRenderer,
}
