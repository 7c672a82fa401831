"""Loading the addon into a real mitmdump: the failures a user meets at startup."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.support.proxy import MITMDUMP, clean_environment

ADDON = Path(__file__).parent.parent / "addon" / "diag.py"


def test_a_mitmproxy_without_pyjwt_is_told_how_to_add_it(tmp_path: Path) -> None:
    # A module named jwt that cannot be imported stands in for a pipx or system
    # mitmproxy whose Python has no pyjwt.
    (tmp_path / "jwt.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'jwt'\", name='jwt')\n"
    )
    finished = subprocess.run(
        [str(MITMDUMP), "--listen-host", "127.0.0.1", "-p", "0", "-s", str(ADDON)],
        env=clean_environment(PYTHONPATH=str(tmp_path)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = finished.stdout + finished.stderr
    assert "authdiag is not loaded" in output
    assert "pipx inject mitmproxy pyjwt" in output
    assert "Traceback" not in output
    # mitmdump stops on an error logged at startup, so the user cannot miss it.
    assert finished.returncode != 0


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("authdiag_statuses=40x", "authdiag_statuses: '40x' is not a status code"),
        ("authdiag_leeway=abc", "authdiag_leeway: 'abc' is not a number"),
        ("authdiag_leeway=-1", "authdiag_leeway: '-1' is not a finite number"),
        ("authdiag_marker=lock", "authdiag_marker: 'lock' is not an emoji"),
    ],
)
def test_a_bad_option_stops_mitmdump_naming_the_option(
    tmp_path: Path, setting: str, message: str
) -> None:
    # Before the leeway option was a checked string, mitmproxy dropped the whole
    # script over an unparsable integer and went on proxying without a word.
    command = [str(MITMDUMP), "--listen-host", "127.0.0.1", "-p", "0", "-s", str(ADDON)]
    finished = subprocess.run(
        [*command, "--set", setting],
        env=clean_environment(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert message in finished.stdout + finished.stderr
    assert finished.returncode != 0
