"""Run `authdiag report` over flows, in every format, for tests that scan what
authdiag writes (secrets must never appear whole in any of it)."""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from mitmproxy import http
from mitmproxy.io import FlowWriter
from tests.support.proxy import Mitmdump

from authdiag.render import RENDERERS
from authdiag.report import Filters, Report


def rendered_reports(flows: Sequence[http.HTTPFlow]) -> dict[str, str]:
    """``{"report --format text": "...", ...}`` for a .flow file holding ``flows``.

    The Report API is called in-process rather than the command, whose main()
    reconfigures logging for the whole process.
    """
    outputs = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "flows.flow"
        with path.open("wb") as file:
            writer = FlowWriter(file)
            for flow in flows:
                writer.add(flow)
        for name, renderer in RENDERERS.items():
            out = io.StringIO()
            Report(renderer=renderer(out), filters=Filters()).run([path])
            outputs[f"report --format {name}"] = out.getvalue()
    return outputs


def assert_no_secret_leaked(
    proxy: Mitmdump, flow: http.HTTPFlow, secrets: Iterable[str]
) -> None:
    """No secret the client or the proxy held appears whole where a person or a
    file sees it: the metadata (saved with the flow), the comment, the proxy's
    log, and `authdiag report` over the saved flow in every format."""
    places = {
        "flow.metadata": json.dumps(flow.metadata, default=repr),
        "flow.comment": flow.comment,
        "mitmdump log": proxy.log(),
        **rendered_reports([flow]),
    }
    for secret in secrets:
        for where, text in places.items():
            assert secret not in text, f"a secret leaked into {where}"
