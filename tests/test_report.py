"""End to end: the `authdiag report` command, run as a real subprocess, over the
bundled recordings (made by real clients through real mitmdump) and over damaged
copies of them.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mitmproxy import eventsequence, http
from mitmproxy.flow import Error
from mitmproxy.io import FlowWriter
from mitmproxy.test import tflow
from tests.support.offline import (
    AUTHDIAG,
    REPO,
    Recording,
    Run,
    credentials_sent,
    flows_in,
    manifest,
    replay,
    report,
    report_as_recorded,
    run,
)
from tests.support.proxy import clean_environment

from authdiag.addon import AuthDiag
from authdiag.catalogue import find_cause
from authdiag.engine import diagnose  # noqa: F401  (registers the causes)
from authdiag.report import Replayer

RECORDINGS = manifest()
ALL_FILES = [recording.path for recording in RECORDINGS]
SCHEMA_DOC = REPO / "docs" / "report-json.md"
FAKETIME = Path("/usr/bin/faketime")


def listed_verdicts(recording: Recording) -> list[str]:
    """The verdicts a default report lists: routine handshakes are left out."""
    return [v for v in recording.verdicts if not find_cause(v).routine]  # type: ignore[union-attr]


def verdicts_by_capture(document: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for refusal in document["refusals"]:
        name = Path(refusal["capture"]).name
        found[name].append(refusal["annotation"]["findings"][0]["cause"])
    return found


def schema() -> dict[str, Any]:
    block = re.search(r"```json\n(.*?)```", SCHEMA_DOC.read_text(), re.S)
    assert block, "docs/report-json.md has no ```json schema block"
    loaded: dict[str, Any] = json.loads(block.group(1))
    return loaded


@pytest.fixture(scope="module")
def bundled() -> Run:
    """One JSON report over every bundled recording."""
    return report("--format", "json", *ALL_FILES)


@pytest.fixture(scope="module")
def as_recorded() -> dict[str, list[str]]:
    """What JSON reports list for each recording, each run with the
    authdiag_statuses its recording names."""
    found: dict[str, list[str]] = defaultdict(list)
    for result in report_as_recorded(ALL_FILES, "--format", "json"):
        for name, verdicts in verdicts_by_capture(result.json()).items():
            found[name] += verdicts
    return found


@pytest.fixture
def tour_copy(tmp_path: Path) -> Path:
    return Path(shutil.copy(REPO / "recordings" / "tour.flow", tmp_path))


# --- the bundled recordings ---------------------------------------------------------


@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda r: r.file)
def test_every_recording_reports_its_expected_verdicts(
    as_recorded: dict[str, list[str]], recording: Recording
) -> None:
    assert as_recorded.get(recording.file, []) == listed_verdicts(recording)


def test_the_bundle_exits_1_and_reads_every_capture_whole(bundled: Run) -> None:
    assert bundled.returncode == 1, bundled.stderr
    assert bundled.stderr == ""
    captures = bundled.json()["captures"]
    assert [Path(c["path"]).name for c in captures] == [r.file for r in RECORDINGS]
    assert all(c["complete"] and c["problem"] is None for c in captures)


def test_routine_handshakes_are_listed_when_asked_for() -> None:
    digest = [r for r in RECORDINGS if "challenge-handshake" in r.verdicts]
    paths = [recording.path for recording in digest]
    result = report("--format", "json", "--cause", "challenge-handshake", *paths)

    assert result.returncode == 1
    found = verdicts_by_capture(result.json())
    for recording in digest:
        expected = [v for v in recording.verdicts if v == "challenge-handshake"]
        assert found[recording.file] == expected


def test_the_json_report_matches_its_documented_schema(
    bundled: Run, tour_copy: Path, tmp_path: Path
) -> None:
    jsonschema.validate(bundled.json(), schema())
    # And a report with every problem field filled in.
    data = tour_copy.read_bytes()
    tour_copy.write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.txt").write_text("not a capture\n")
    damaged = report(
        "--format", "json", tour_copy, tmp_path / "notes.txt", tmp_path / "gone.flow"
    )
    jsonschema.validate(damaged.json(), schema())
    assert damaged.json()["exit_status"] == damaged.returncode == 2


def test_refusals_carry_the_annotation_the_live_addon_writes(tmp_path: Path) -> None:
    """The report's findings are the addon's: replaying the same recording
    through mitmdump with -w gives the same annotation objects."""
    tour = REPO / "recordings" / "tour.flow"
    annotated = tmp_path / "annotated.flow"
    replay(tour, "-w", annotated)
    saved = [
        f.metadata["authdiag"]
        for f in flows_in(annotated)
        if "authdiag" in f.metadata
        and not find_cause(f.metadata["authdiag"]["findings"][0]["cause"]).routine  # type: ignore[union-attr]
    ]

    listed = [
        r["annotation"] for r in report("--format", "json", tour).json()["refusals"]
    ]

    assert listed == saved


def test_a_har_says_it_has_no_tls_details_and_a_flow_file_says_none_were_saved(
    bundled: Run,
) -> None:
    tls = {Path(c["path"]).name: c["tls"] for c in bundled.json()["captures"]}
    assert tls["browser.har"] == tls["tour.har"] == "not-in-format"
    assert tls["jwt-expired.flow"] == "absent"

    text = report("recordings/browser.har", "recordings/jwt-expired.flow").stdout
    assert "a HAR never does" in text
    assert "client certificate" in text


def test_recordings_are_judged_at_their_own_time_whatever_the_clock() -> None:
    """The same report, run with the clock twenty years ahead."""
    assert FAKETIME.exists(), "faketime is installed by .ci/run"
    files = [str(path) for path in ALL_FILES]
    now = run([AUTHDIAG, "report", "--format", "json", *files])
    later = run(
        [
            FAKETIME,
            "2046-06-01 12:00:00",
            AUTHDIAG,
            "report",
            "--format",
            "json",
            *files,
        ]
    )
    assert later.returncode == now.returncode == 1, later.stderr
    assert later.json() == now.json()


def test_no_credential_of_any_recording_appears_in_any_format() -> None:
    secrets = set()
    for recording in RECORDINGS:
        if recording.file.endswith(".flow"):
            secrets |= credentials_sent(flows_in(recording.path))
    assert len(secrets) > 10

    for form in ("text", "markdown", "json"):
        runs = report_as_recorded(ALL_FILES, "--format", form)
        output = "".join(result.stdout for result in runs)
        leaked = [secret[:12] for secret in secrets if secret in output]
        assert not leaked, f"{form} report shows credentials starting {leaked}"


# --- formats ------------------------------------------------------------------------


def test_the_text_report_fits_80_columns_and_names_every_verdict(bundled: Run) -> None:
    text = "".join(result.stdout for result in report_as_recorded(ALL_FILES))

    long_lines = [line for line in text.splitlines() if len(line) > 80]
    assert not long_lines
    for recording in RECORDINGS:
        for verdict in listed_verdicts(recording):
            assert f"→ {verdict} (" in text
    assert "Summary: " in text and "Captures" in text


def test_the_markdown_report_has_a_section_per_refusal_and_a_summary_table(
    bundled: Run,
) -> None:
    markdown = report("--format", "markdown", "recordings/jwt-expired.flow").stdout

    assert markdown.startswith("# authdiag report\n")
    assert re.search(r"^## 401 GET `https://127\.0\.0\.1:\d+/bearer`$", markdown, re.M)
    assert "**`jwt-expired`**: the JWT expired" in markdown
    assert "| host | cause | count | first | last |" in markdown
    assert re.search(r"^\| 127\.0\.0\.1:\d+ \| `jwt-expired` \| 1 \|", markdown, re.M)


def test_output_goes_to_the_named_file(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    result = report("--format", "markdown", "-o", out, "recordings/forbidden.flow")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "`forbidden`" in out.read_text()


def test_python_dash_m_runs_the_same_command() -> None:
    via_module = run(
        [
            sys.executable,
            "-m",
            "authdiag",
            "report",
            "--format",
            "json",
            "recordings/jwt-expired.flow",
        ]
    )
    via_script = report("--format", "json", "recordings/jwt-expired.flow")
    assert via_module.returncode == via_script.returncode == 1
    assert via_module.json() == via_script.json()


# --- filters and exit status --------------------------------------------------------


def test_cause_filter_lists_only_that_verdict(bundled: Run) -> None:
    result = report("--format", "json", "--cause", "jwt-expired", *ALL_FILES)

    found = verdicts_by_capture(result.json())
    assert set(found) == {
        "jwt-expired.flow",
        "browser.flow",
        "browser.har",
        "tour.flow",
        "tour.har",
    }
    assert all(verdicts == ["jwt-expired"] for verdicts in found.values())


def test_host_filter_lists_only_that_host(bundled: Run) -> None:
    proxy_refusal = next(
        r
        for r in bundled.json()["refusals"]
        if Path(r["capture"]).name == "proxy-auth-required.flow"
    )
    host = proxy_refusal["host"]
    result = report("--format", "json", "--host", host, *ALL_FILES)

    assert {r["host"] for r in result.json()["refusals"]} == {host}
    pattern = report("--format", "json", "--host", "127.0.0.*", *ALL_FILES)
    assert len(pattern.json()["refusals"]) == len(bundled.json()["refusals"])


def test_leeway_forgives_an_expiry_within_it() -> None:
    # The recorded token expired 60 minutes before its request was sent.
    strict = report("--format", "json", "recordings/jwt-expired.flow")
    lenient = report(
        "--format", "json", "--leeway", "7200", "recordings/jwt-expired.flow"
    )

    assert verdicts_by_capture(strict.json()) == {"jwt-expired.flow": ["jwt-expired"]}
    lenient_verdicts = verdicts_by_capture(lenient.json())["jwt-expired.flow"]
    assert lenient_verdicts and "jwt-expired" not in lenient_verdicts


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "'abc' is not a number of seconds"),
        ("-1", "'-1' is not a finite number of seconds >= 0"),
        ("nan", "'nan' is not a finite number of seconds >= 0"),
    ],
)
def test_a_bad_leeway_exits_2_naming_it(value: str, message: str) -> None:
    result = report(f"--leeway={value}", "recordings/jwt-expired.flow")

    assert result.returncode == 2
    assert f"argument --leeway: {message}" in result.stderr
    assert result.stdout == ""


def test_no_refusal_listed_exits_0() -> None:
    result = report("--host", "api.example.com", "recordings/tour.flow")
    assert result.returncode == 0
    assert "No refusals listed." in result.stdout


def test_an_unknown_cause_is_a_usage_error_naming_the_known_ones() -> None:
    result = report("--cause", "jwt-expried", "recordings/tour.flow")
    assert result.returncode == 2
    assert "unknown cause 'jwt-expried'; known:" in result.stderr
    assert "jwt-expired" in result.stderr


# --- bad input ----------------------------------------------------------------------


def test_a_missing_file_is_named_and_the_others_still_reported(tmp_path: Path) -> None:
    missing = tmp_path / "yesterday.flow"
    result = report("--format", "json", missing, "recordings/forbidden.flow")

    assert result.returncode == 2
    assert (
        f"authdiag: cannot open {missing}: No such file or directory" in result.stderr
    )
    assert verdicts_by_capture(result.json())["forbidden.flow"] == ["forbidden"]


def test_a_file_of_another_format_is_named(tmp_path: Path) -> None:
    png = tmp_path / "screenshot.flow"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    result = report(png)

    assert result.returncode == 2
    assert f"{png} is not a mitmproxy .flow file nor a HAR" in result.stderr
    assert "UNREADABLE" in result.stdout


def test_a_truncated_flow_file_reports_the_flows_before_the_cut(
    tour_copy: Path,
) -> None:
    whole = report("--format", "json", tour_copy).json()
    data = tour_copy.read_bytes()
    tour_copy.write_bytes(data[: len(data) // 2])

    result = report("--format", "json", tour_copy)

    assert result.returncode == 2
    capture = result.json()["captures"][0]
    cut_at = capture["damage_position"]
    assert 0 < cut_at <= len(data) // 2
    assert f"{tour_copy}: the file ends in the middle of flow" in result.stderr
    assert f"starts at byte {cut_at:,}" in result.stderr
    listed = result.json()["refusals"]
    assert listed and listed == whole["refusals"][: len(listed)]
    assert len(listed) < len(whole["refusals"])
    text = " ".join(report(tour_copy).stdout.split())  # unwrapped
    read = capture["flows_read"]
    assert f"the refusals among the {read} flows read before it are listed" in text


def test_a_truncated_file_without_refusals_says_none_came_before(
    tmp_path: Path,
) -> None:
    buffer = io.BytesIO()
    FlowWriter(buffer).add(tflow.tflow(resp=True))
    whole = buffer.getvalue()
    FlowWriter(buffer).add(tflow.tflow(resp=True))
    path = tmp_path / "cut.flow"
    path.write_bytes(buffer.getvalue()[: len(whole) + 40])

    result = report(path)

    text = " ".join(result.stdout.split())  # unwrapped
    assert result.returncode == 2
    assert "1 flow, 0 listed" in text
    assert "no refusal among the 1 flow read before it" in text
    assert "listed above" not in text


def test_a_corrupt_flow_file_names_the_byte_and_keeps_what_came_before(
    tmp_path: Path,
) -> None:
    flows = flows_in(REPO / "recordings" / "tour.flow")
    buffer = io.BytesIO()
    writer = FlowWriter(buffer)
    for flow in flows[:10]:
        writer.add(flow)
    damaged_at = buffer.tell()
    for flow in flows[10:]:
        writer.add(flow)
    data = buffer.getvalue()
    path = tmp_path / "corrupt.flow"
    # The eleventh record's length prefix loses its first digit to a letter.
    path.write_bytes(data[:damaged_at] + b"x" + data[damaged_at + 1 :])

    result = report("--format", "json", path)

    assert result.returncode == 2
    capture = result.json()["captures"][0]
    assert capture["problem"] == (
        f"{path}: flow 11, at byte {damaged_at:,}, is corrupt: "
        "missing or invalid length prefix"
    )
    assert capture["damage_position"] == damaged_at
    assert capture["flows_read"] == 10
    assert result.json()["refusals"]


def test_a_truncated_har_reports_the_entries_before_the_cut(tmp_path: Path) -> None:
    data = (REPO / "recordings" / "tour.har").read_bytes()
    cut = tmp_path / "cut.har"
    cut.write_bytes(data[: len(data) // 2])

    result = report("--format", "json", cut)

    assert result.returncode == 2
    assert f"{cut}: the file ends in the middle of entry" in result.stderr
    assert result.json()["refusals"]


# --- on a terminal ------------------------------------------------------------------


def test_progress_shows_on_a_terminal_and_not_in_a_pipe(bundled: Run) -> None:
    assert bundled.stderr == ""  # a pipe: no progress

    controller, terminal = pty.openpty()
    try:
        completed = subprocess.run(
            [str(AUTHDIAG), "report", "-o", os.devnull, "recordings/tour.flow"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=terminal,
            cwd=REPO,
            env=clean_environment(),
            timeout=120,
            check=False,
        )
        os.close(terminal)
        shown = _read_all(controller)
    finally:
        os.close(controller)

    assert completed.returncode == 1
    assert "authdiag: tour.flow:" in shown
    assert "flows" in shown
    assert shown.endswith("\r\x1b[K"), "the progress line is cleared at the end"


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the terminal side is closed: everything was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def test_without_a_command_the_usage_is_shown_and_the_status_is_2() -> None:
    result = run([AUTHDIAG])
    assert result.returncode == 2
    assert "report    diagnose the refusals in .flow and HAR files" in result.stderr


def test_a_reader_that_goes_away_stops_the_report_quietly() -> None:
    with subprocess.Popen(
        [str(AUTHDIAG), "report", *map(str, ALL_FILES)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=clean_environment(),
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.readline()
        process.stdout.close()  # like `| head -1`
        errors = process.stderr.read()
        status = process.wait(timeout=60)
    assert status == 141
    assert errors == b""


# --- the replay follows mitmproxy's event order -------------------------------------


class CallOrder(AuthDiag):
    """AuthDiag that notes which of its hooks ran, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.called: list[str] = []

    def request(self, flow: http.HTTPFlow) -> None:
        self.called.append("request")

    def response(self, flow: http.HTTPFlow) -> None:
        self.called.append("response")

    def error(self, flow: http.HTTPFlow) -> None:
        self.called.append("error")


def every_kind_of_http_flow() -> list[http.HTTPFlow]:
    answered = tflow.tflow(resp=True)
    failed = tflow.tflow(err=True)
    answered_then_failed = tflow.tflow(resp=True, err=True)
    websocket = tflow.twebsocketflow()
    websocket.error = Error("connection closed")
    unanswered = tflow.tflow()
    return [answered, failed, answered_then_failed, websocket, unanswered]


def test_authdiag_has_no_http_hook_the_replay_would_miss() -> None:
    fired = {
        hook.name
        for recorded in every_kind_of_http_flow()
        for hook in eventsequence.iterate(recorded)
    }

    handled = {name for name in fired if callable(getattr(AuthDiag, name, None))}

    assert handled == {"request", "response", "error"}


@pytest.mark.parametrize("index", range(len(every_kind_of_http_flow())))
def test_the_replay_calls_the_hooks_in_mitmproxys_order(index: int) -> None:
    recorded = every_kind_of_http_flow()[index]
    expected = [
        hook.name
        for hook in eventsequence.iterate(recorded.copy())
        if hook.name in {"request", "response", "error"}
    ]
    replayer = Replayer(statuses=None, leeway=0.0)
    replayer.addon = spy = CallOrder()

    replayer.replay(recorded)

    assert spy.called == expected
