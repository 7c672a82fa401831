"""Loading the addon into a real mitmdump: the failure a pipx user would meet."""

from __future__ import annotations

import subprocess
from pathlib import Path

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
