"""A mitmproxy script that times authdiag's hooks inside a running mitmdump.

Load it after the addon (``-s addon/diag.py -s benchmarks/hook_timer.py``). When
mitmproxy starts, it wraps every hook method of every authdiag addon in the chain
with a CPU-time counter (``time.thread_time``: mitmproxy runs its hooks on one
thread), and when mitmproxy stops it writes ``{hook: [calls, seconds]}`` as JSON
to the file named by the environment variable AUTHDIAG_HOOK_TIMES.

Loaded into a mitmdump without authdiag it finds nothing to wrap, so both sides
of a comparison can load it alike.

Reading the thread's CPU clock is a system call, and each timed hook reads it
twice: on a virtual machine that is a microsecond or more per hook, counted as
the hook's. So the timer also times a wrapped function that does nothing, as
often as a busy proxy calls hooks, and writes that as ``TIMER_OVERHEAD``: what
to take away per call to get the hooks' own time.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mitmproxy import ctx, hooks

TIMER_OVERHEAD = "(timer overhead)"
CALIBRATION_CALLS = 20_000


class HookTimer:
    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}

    def running(self) -> None:
        nothing = self._timed(TIMER_OVERHEAD, lambda *args: None)
        for _ in range(CALIBRATION_CALLS):
            nothing(None)
        for addon in _authdiag_addons(ctx.master.addons.chain):
            for name in hooks.all_hooks:
                method = getattr(addon, name, None)
                if callable(method) and name not in ("running", "done"):
                    setattr(
                        addon,
                        name,
                        self._timed(f"{type(addon).__name__}.{name}", method),
                    )

    def _timed(self, label: str, method: Callable[..., Any]) -> Callable[..., Any]:
        total = self.totals.setdefault(label, [0, 0.0])
        if inspect.iscoroutinefunction(method):

            @functools.wraps(method)
            async def timed_async(*args: Any) -> Any:
                start = time.thread_time()
                try:
                    return await method(*args)
                finally:
                    total[0] += 1
                    total[1] += time.thread_time() - start

            return timed_async

        @functools.wraps(method)
        def timed(*args: Any) -> Any:
            start = time.thread_time()
            try:
                return method(*args)
            finally:
                total[0] += 1
                total[1] += time.thread_time() - start

        return timed

    def done(self) -> None:
        target = os.environ.get("AUTHDIAG_HOOK_TIMES")
        if target:
            Path(target).write_text(json.dumps(self.totals))


def _authdiag_addons(chain: list[Any]) -> Iterator[Any]:
    """Addons defined in the authdiag package, children included."""
    pending = list(chain)
    while pending:
        addon = pending.pop()
        pending.extend(getattr(addon, "addons", None) or [])
        if type(addon).__module__.startswith("authdiag"):
            yield addon


addons = [HookTimer()]
