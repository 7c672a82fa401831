"""The recordings folder: what it holds, that its index is the script's, and that
the script still makes recordings with the expected verdicts (real servers, real
mitmdump, curl, requests and headless Chromium).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from recordings import make_recordings
from tests.support.offline import RECORDINGS, manifest, report_as_recorded, run

from authdiag.catalogue import CAUSES
from authdiag.engine import diagnose  # noqa: F401  (registers the causes)

INDEX_FILES = {"README.md", "manifest.json", "make_recordings.py", "__init__.py"}
MAX_FOLDER_BYTES = 3 * 1024 * 1024
REMADE_IN_TESTS = (
    "proxy-auth-required",
    "client-cert-missing",
    "cert-bound-token-mismatch",
    "browser",
    "preflight-unauthenticated",
    "platforms",
    "crossflow",
    "app-rejects-proxy-cert",
    "client-cert-rejected",
    "nginx-htpasswd-unreadable",
    "authorization-conflict",
    make_recordings.TOUR,
)
"""The tour drives every scenario on the refusing server; these add the 407,
mutual-TLS, browser, platform, cross-flow and widened-statuses ones, so together
they exercise every drive function and every kind of proxy set-up."""


def test_the_index_is_what_the_script_writes() -> None:
    assert (RECORDINGS / "README.md").read_text() == make_recordings.readme()
    written = json.loads((RECORDINGS / "manifest.json").read_text())
    assert written == make_recordings.manifest()


def test_every_file_is_indexed_and_every_indexed_file_exists() -> None:
    present = {
        path.name
        for path in RECORDINGS.iterdir()
        if path.is_file() and path.name not in INDEX_FILES
    }
    assert present == {recording.file for recording in manifest()}


def test_the_folder_stays_small() -> None:
    size = sum(path.stat().st_size for path in RECORDINGS.iterdir() if path.is_file())
    assert size < MAX_FOLDER_BYTES


def test_every_cause_has_a_recording_or_a_stated_reason_why_not() -> None:
    recorded = {verdict for r in manifest() for verdict in r.verdicts}
    catalogue = {known.id for known in CAUSES}
    gaps = set(make_recordings.UNRECORDED)

    missing = catalogue - recorded - gaps
    assert not missing, (
        f"no recording for {sorted(missing)}: add a Scenario to "
        "recordings/make_recordings.py, or say why in its UNRECORDED"
    )
    assert not gaps & recorded, "UNRECORDED lists causes that have a recording"
    assert gaps <= catalogue, f"UNRECORDED names unknown causes: {gaps - catalogue}"


def test_a_browser_har_is_among_them() -> None:
    har = json.loads((RECORDINGS / "browser.har").read_text())
    assert har["log"]["creator"]["name"] == "Playwright"
    assert har["log"]["browser"]["name"] == "chromium"


def test_the_script_makes_recordings_with_the_expected_verdicts(
    tmp_path: Path,
) -> None:
    made = run(
        [
            sys.executable,
            "-m",
            "recordings.make_recordings",
            "--out",
            tmp_path,
            *REMADE_IN_TESTS,
        ],
        timeout=300,
    )
    assert made.returncode == 0, made.stderr

    expected = {r.file: r for r in manifest()}
    files = sorted(p for p in tmp_path.iterdir() if p.suffix in (".flow", ".har"))
    assert {p.name for p in files} == {
        f"{name}.{kind}"
        for name in REMADE_IN_TESTS
        for kind in ("flow", "har")
        if kind == "flow" or name in ("browser", make_recordings.TOUR)
    }
    listed = report_as_recorded(files, "--format", "json")
    listed += report_as_recorded(
        files, "--format", "json", "--cause", "challenge-handshake"
    )
    refusals = [r for result in listed for r in result.json()["refusals"]]
    for path in files:
        causes = [
            r["annotation"]["findings"][0]["cause"]
            for r in sorted(refusals, key=lambda r: r["index"])
            if Path(r["capture"]).name == path.name
        ]
        assert causes == list(expected[path.name].verdicts), path.name
