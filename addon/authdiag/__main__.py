"""The `authdiag` command (also `python -m authdiag`).

    authdiag report CAPTURE... [--format text|markdown|json] [--output FILE]
                    [--host PATTERN]... [--cause ID]... [--leeway S] [--statuses SPEC]

Exit status: 0 no refusal listed, 1 refusals listed, 2 a capture could not be
read whole (or a usage error); see ExitStatus in report.py.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from authdiag.addon import parse_seconds, parse_statuses
from authdiag.catalogue import CAUSES, find_cause
from authdiag.engine import diagnose  # noqa: F401  (registers the rules)
from authdiag.render import RENDERERS
from authdiag.report import ExitStatus, Filters, Outcome, Report

EXIT_STATUS_HELP = """\
exit status:
  0  every capture was read whole and no refusal is listed
  1  every capture was read whole and at least one refusal is listed
  2  a capture is missing, is not a .flow or HAR file, or is damaged (what
     could be read is still reported), or the command line is wrong
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return ExitStatus.UNREADABLE
    try:
        return run_report(args)
    except BrokenPipeError:
        # The reader went away (`authdiag report ... | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE  # what a shell reports for a reader gone
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="authdiag",
        description="Explain why requests were refused, from saved captures.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    report = commands.add_parser(
        "report",
        help="diagnose the refusals in .flow and HAR files",
        description=(
            "Diagnose every refused request in mitmproxy .flow files and HAR "
            "files, with the same rules as the live addon."
        ),
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument(
        "paths", nargs="+", type=Path, metavar="CAPTURE", help=".flow or HAR file"
    )
    report.add_argument(
        "--format",
        choices=sorted(RENDERERS),
        default="text",
        help="text for a terminal (default), markdown for a ticket, json for tools",
    )
    report.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write here, not stdout"
    )
    report.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only refusals from this host (glob, e.g. '*.example.com'; repeatable)",
    )
    report.add_argument(
        "--cause",
        action="append",
        default=[],
        type=cause_id,
        metavar="ID",
        help="only refusals with this verdict (see docs/causes.md; repeatable)",
    )
    report.add_argument(
        "--leeway",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="tolerance for a token's exp, nbf and iat, as authdiag_leeway",
    )
    report.add_argument(
        "--statuses",
        type=statuses,
        default=None,
        metavar="SPEC",
        help="status codes to diagnose, as authdiag_statuses (default 401,403,407)",
    )
    return parser


def cause_id(text: str) -> str:
    if find_cause(text) is None:
        known = ", ".join(known.id for known in CAUSES)
        raise argparse.ArgumentTypeError(f"unknown cause {text!r}; known: {known}")
    return text


def seconds(text: str) -> float:
    try:
        return parse_seconds(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def statuses(text: str) -> frozenset[int]:
    try:
        return parse_statuses(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run_report(args: argparse.Namespace) -> int:
    _quiet_logging()
    try:
        with _output(args.output) as out:
            report = Report(
                renderer=RENDERERS[args.format](out),
                filters=Filters(hosts=tuple(args.host), causes=tuple(args.cause)),
                statuses=args.statuses,
                leeway=args.leeway,
            )
            outcome = report.run(args.paths)
    except BrokenPipeError:
        raise
    except OSError as error:
        # Captures that cannot be read are reported, not raised: this is output.
        where = args.output or "standard output"
        print(f"authdiag: cannot write to {where}: {error.strerror}", file=sys.stderr)
        return ExitStatus.UNREADABLE
    _tell_problems(outcome)
    return outcome.status


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        yield sys.stdout
        sys.stdout.flush()
        return
    with path.open("w", encoding="utf-8") as out:
        yield out


def _quiet_logging() -> None:
    # The addon logs each diagnosis at WARNING, which the report itself shows;
    # errors (a rule that failed on a flow) still reach stderr.
    logging.basicConfig(
        level=logging.ERROR, format="authdiag: %(name)s: %(message)s", force=True
    )


def _tell_problems(outcome: Outcome) -> None:
    """Name unreadable and damaged captures on stderr too, for CI logs."""
    for result in outcome.captures:
        if result.problem is not None:
            print(f"authdiag: {result.problem}", file=sys.stderr)
        if result.skipped_count:
            print(
                f"authdiag: {result.path}: skipped {result.skipped_count} HAR "
                "entries that are not requests",
                file=sys.stderr,
            )


if __name__ == "__main__":
    sys.exit(main())
