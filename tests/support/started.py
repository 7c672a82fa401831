"""The one way the tests run what they start: in a ``with`` block.

Every server and process in tests/support starts on entering the block and
stops on leaving it, whatever happened inside, so nothing outlives its test.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Started:
    """A base for what has ``start()`` (returning itself) and ``stop()``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> object:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
