"""Where a typical 401's time goes: each stage of authdiag's response hook timed
on its own, in one process.

    uv run python benchmarks/stages.py [--flows 2000] [--rounds 5]

The flow is benchmarks/per_flow.py's typical 401 (a Bearer JWT an app has sent
before, refused with an RFC 6750 challenge and an OAuth error body), and the
addons are the ones addon/diag.py loads. Each stage is the real call the hook
makes, in the hook's order, on a fresh copy of the flow: the history's record
of the exchange, what the history recalls, the evidence, the choice of rules
by the flow's traits, the diagnosis (the rules chosen, then ranking and
scrubbing), AuthDiag.annotate (which does the recall, evidence and diagnosis
again, then writes the annotation and logs the WARNING line), the summary's
count and the history's record. annotate runs twice per flow, once with
authdiag's logger disabled: the difference is the WARNING line through
mitmproxy's two log handlers (mitmproxy's terminal log, writing to /dev/null,
and its event log), and what is left of annotate once the recall, evidence and
diagnosis are taken away is the writing of the annotation. The whole hook
chain is timed the same way beside them, so the stages can be checked to add
up to it.

Every stage is timed with time.perf_counter_ns around the call alone, the
stages interleaved flow by flow, so that a change of the machine's speed
affects them all alike; medians are printed, with each stage's share.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import per_flow  # the flow and the addons of benchmark 3 (this folder)
from mitmproxy import http
from mitmproxy.addons.termlog import TermLogHandler

from authdiag import addon as addon_module
from authdiag import engine, evidence, observe
from authdiag.summary import host_of


def timed[T](
    samples: list[int], call: Callable[..., T], *args: object, **kwargs: object
) -> T:
    """call(*args, **kwargs), its time in nanoseconds appended to samples."""
    start = time.perf_counter_ns()
    result = call(*args, **kwargs)
    samples.append(time.perf_counter_ns() - start)
    return result


def count(diag: addon_module.AuthDiag, request: http.Request, cause: str) -> None:
    """What AuthDiag.count does with a refusal's verdict."""
    diag.summary.add(host_of(request), cause, request.timestamp_start)


def run_all(calls: list[Callable[[], object]]) -> None:
    for call in calls:
        call()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=2000, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("$ uv run python benchmarks/stages.py " + " ".join(sys.argv[1:]))
    handler = TermLogHandler(open(os.devnull, "w"))  # noqa: SIM115  (lives as long as the run)
    handler.install()
    addons = per_flow.Addons()
    diag = next(a for a in addons.chain if isinstance(a, addon_module.AuthDiag))
    refused = per_flow.typical_flow(401)
    names = (
        "exchange",
        "recall",
        "evidence",
        "choice",
        "diagnosis",
        "annotate",
        "annotate, logger disabled",
        "count",
        "record",
        "whole",
    )
    samples: dict[str, list[int]] = {name: [] for name in names}
    warm_up = 200
    for _ in range(warm_up + args.flows * args.rounds):
        flow: http.HTTPFlow = refused.copy()
        exchange = timed(samples["exchange"], observe.exchange_of, flow, refused=True)
        assert exchange is not None
        recalled = timed(samples["recall"], diag.history.recall, exchange)
        ev = timed(
            samples["evidence"],
            evidence.from_flow,
            flow,
            leeway=diag.leeway,
            history=recalled,
        )
        verdict = timed(samples["diagnosis"], engine.diagnose, ev).verdict
        assert verdict is not None
        # On evidence of its own: the helpers a choice runs keep what they
        # work out in the evidence, which would spare the diagnosis that work.
        fresh = evidence.from_flow(flow, leeway=diag.leeway, history=recalled)
        timed(samples["choice"], engine.rules_for, fresh)
        timed(samples["annotate"], diag.annotate, flow, exchange)
        addon_module.logger.disabled = True
        quiet = refused.copy()
        timed(samples["annotate, logger disabled"], diag.annotate, quiet, exchange)
        addon_module.logger.disabled = False
        timed(samples["count"], count, diag, flow.request, verdict.cause)
        timed(samples["record"], diag.history.record, exchange, refused=True)
        timed(samples["whole"], run_all, addons.hooks(refused.copy()))
    us = {
        name: statistics.median(times[warm_up:]) / 1000
        for name, times in samples.items()
    }
    stages = {
        "history: the exchange": us["exchange"],
        "history: recall": us["recall"],
        "evidence": us["evidence"],
        "diagnosis (choice, rules, ranking, scrubbing)": us["diagnosis"],
        "annotation: metadata, comment, marker": us["annotate, logger disabled"]
        - us["recall"]
        - us["evidence"]
        - us["diagnosis"],
        "WARNING line (mitmproxy's log handlers)": us["annotate"]
        - us["annotate, logger disabled"],
        "summary count": us["count"],
        "history: record": us["record"],
    }
    total = sum(stages.values())
    print(
        f"{args.rounds} x {args.flows} flows, load average {os.getloadavg()[0]:.2f}; "
        "medians in µs"
    )
    for name, median in stages.items():
        print(f"  {name:48s} {median:8.1f}  {median / total:6.1%}")
        if name.startswith("diagnosis"):
            choice = "of which the choice of rules by traits"
            print(f"    {choice:46s} {us['choice']:8.1f}")
    print(f"  {'sum of the stages':48s} {total:8.1f}")
    print(f"  {'every hook of the flow, timed whole':48s} {us['whole']:8.1f}")


if __name__ == "__main__":
    main()
