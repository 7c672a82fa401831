"""End to end: `mitmdump -nr RECORDING -s addon/diag.py`, a real mitmdump, logs a
diagnosis for every refused flow of every bundled recording, then a summary per
host and cause; a live session prints the same summary when it stops.
"""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.support.offline import Recording, flows_in, manifest, replay
from tests.support.proxy import Mitmdump, MitmdumpFactory, client_session
from tests.support.servers import RefusingServer

from authdiag import engine
from authdiag.addon import parse_statuses
from authdiag.catalogue import CAUSES, find_cause
from authdiag.engine import diagnose  # noqa: F401  (registers the causes)
from authdiag.report import Replayer

RECORDINGS = manifest()
DIAGNOSIS = re.compile(r"authdiag: (\d{3}|no response) \S+ \S+ → (\S+) \((\w+)\)")
SUMMARY_HEADING = re.compile(
    r"authdiag summary: (\d+) refusals? diagnosed on (\d+) hosts?$"
)
SUMMARY_LINE = re.compile(r"authdiag summary: (\S+): (\S+): (\d+) refusals?, ")


def diagnosed_causes(log: list[str]) -> list[str]:
    return [m.group(2) for line in log if (m := DIAGNOSIS.search(line))]


def summary_lines(log: list[str]) -> list[str]:
    return [line for line in log if "authdiag summary:" in line]


def is_routine(cause: str) -> bool:
    known = find_cause(cause)
    return known is not None and known.routine


@pytest.fixture(scope="module")
def replays() -> dict[str, list[str]]:
    """The log of `mitmdump -nr` over each recording, two at a time, with the
    authdiag_statuses it was recorded with."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        logs = pool.map(lambda r: replay(r.path, *r.replay_options), RECORDINGS)
        return {r.file: log for r, log in zip(RECORDINGS, logs, strict=True)}


@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda r: r.file)
def test_replaying_a_recording_logs_its_expected_diagnoses(
    replays: dict[str, list[str]], recording: Recording
) -> None:
    log = replays[recording.file]
    assert diagnosed_causes(log) == list(recording.verdicts)


@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda r: r.file)
def test_replaying_a_recording_ends_with_a_summary_per_host_and_cause(
    replays: dict[str, list[str]], recording: Recording
) -> None:
    log = replays[recording.file]
    refusals = Counter(v for v in recording.verdicts if not is_routine(v))

    summary = summary_lines(log)
    if not refusals:
        assert summary == [], "handshakes alone are not refusals"
        return
    heading = SUMMARY_HEADING.search(summary[0])
    assert heading, summary
    assert int(heading.group(1)) == sum(refusals.values())
    tallied: Counter[str] = Counter()
    for line in summary[1:]:
        found = SUMMARY_LINE.search(line)
        assert found, line
        tallied[found.group(2)] += int(found.group(3))
    assert tallied == refusals
    assert log[-len(summary) :] == summary, "the summary comes last"


def test_recordings_outside_the_default_statuses_need_the_ones_they_name() -> None:
    widened = [r for r in RECORDINGS if r.statuses is not None]
    assert widened, "no recording names its authdiag_statuses"
    for recording in widened:
        assert diagnosed_causes(replay(recording.path)) != list(recording.verdicts)


def test_replaying_with_leeway_and_marker_options_applies_them(tmp_path: Path) -> None:
    # The recorded token expired 60 minutes before its request was sent.
    recording = Path("recordings/jwt-expired.flow")
    out = tmp_path / "lenient.flow"
    log = replay(
        recording,
        *("--set", "authdiag_leeway=7200", "--set", "authdiag_marker=:x:"),
        *("-w", out),
    )

    assert diagnosed_causes(replay(recording)) == ["jwt-expired"]
    lenient = diagnosed_causes(log)
    assert lenient and "jwt-expired" not in lenient
    assert [f.marked for f in flows_in(out)] == [":x:"]


def test_replaying_with_w_keeps_the_annotated_flows(tmp_path: Path) -> None:
    out = tmp_path / "annotated.flow"
    replay(Path("recordings/browser.har"), "-w", out)

    flows = flows_in(out)
    annotated = [f for f in flows if "authdiag" in f.metadata]
    causes = [f.metadata["authdiag"]["findings"][0]["cause"] for f in annotated]
    expected = next(r for r in RECORDINGS if r.file == "browser.har").verdicts
    assert causes == list(expected)
    assert all(f.marked and f.comment.startswith("authdiag: ") for f in annotated)


def test_a_live_session_prints_the_summary_when_it_stops(
    mitmdump_factory: MitmdumpFactory, refusing_server: RefusingServer
) -> None:
    proxy: Mitmdump = mitmdump_factory()
    with client_session(proxy) as session:
        for _ in range(2):
            assert session.get(refusing_server.url("/bearer")).status_code == 401
        assert session.get(refusing_server.url("/open")).status_code == 200
        custom = {"Authorization": "Custom abc123def"}
        response = session.get(refusing_server.url("/mystery"), headers=custom)
        assert response.status_code == 401

    assert proxy.stop() == 0
    summary = [line for line in proxy.log_records() if "authdiag summary:" in line]
    host = f"127.0.0.1:{refusing_server.port}"
    assert summary[0].endswith("authdiag summary: 3 refusals diagnosed on 1 host")
    assert (
        f"authdiag summary: {host}: credentials-missing: 2 refusals, first "
        in (summary[1])
    )
    assert f"authdiag summary: {host}: unknown: 1 refusal, at " in summary[2]


def test_choosing_rules_by_traits_keeps_every_recorded_verdict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every recording, every flow diagnosed whatever its status, annotates the
    same with the engine choosing rules by the flow's traits as with every rule
    of the catalogue run on every flow."""

    def annotations() -> list[object]:
        found: list[object] = []
        for recording in manifest():
            if recording.path.suffix != ".flow":
                continue
            replayer = Replayer(statuses=parse_statuses("100-599"), leeway=0.0)
            found += [replayer.replay(flow) for flow in flows_in(recording.path)]
        return found

    chosen = annotations()
    monkeypatch.setattr(engine, "rules_for", lambda ev: engine._split(list(CAUSES)))
    every_rule = annotations()

    assert sum(a is not None for a in chosen) > 100
    assert chosen == every_rule
