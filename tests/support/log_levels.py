"""A mitmproxy script for the tests that check authdiag's log levels.

mitmdump's terminal log prints no level names, so a test cannot tell a WARNING
from an INFO line there. Loaded beside the addon
(``mitmdump -s addon/diag.py -s tests/support/log_levels.py --set
log_levels_file=PATH``), this writes every record of authdiag's loggers to PATH
as ``LEVEL message``, one per line, as they are logged.
"""

from __future__ import annotations

import logging
from typing import Any

from mitmproxy import ctx

AUTHDIAG_LOGGER = logging.getLogger("authdiag")


class LogLevels:
    def __init__(self) -> None:
        self.handler: logging.Handler | None = None

    def load(self, loader: Any) -> None:
        loader.add_option(
            "log_levels_file",
            str,
            "",
            "Write authdiag's log records, with their level names, to this file.",
        )

    def configure(self, updated: set[str]) -> None:
        if "log_levels_file" not in updated or not ctx.options.log_levels_file:
            return
        self.done()
        self.handler = logging.FileHandler(ctx.options.log_levels_file, "w", "utf-8")
        self.handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        AUTHDIAG_LOGGER.addHandler(self.handler)

    def done(self) -> None:
        if self.handler is not None:
            AUTHDIAG_LOGGER.removeHandler(self.handler)
            self.handler.close()
            self.handler = None


addons = [LogLevels()]
