"""Offline: `authdiag report` over a recording versus mitmproxy's FlowReader
streaming the same file with no analysis.

    uv run python benchmarks/offline_report.py [--flows 100000] [--rounds 5]

It writes a recording of an app's session with FlowWriter (90 % successes that
carry a bearer token, 4 % redirects, 6 % refusals: 401s with an expired JWT,
403s with an API key, 407s), then runs, alternating round by round, under
/usr/bin/time (elapsed seconds and peak RSS):

    authdiag report REC --format json -o /dev/null
    python benchmarks/offline_report.py --read-only REC

Targets: the report takes <= 1.15x the reader alone; its peak memory is the same
for a tenth of the flows (it streams, keeping nothing per flow).

With --in-process it compares instead, inside one process, passes over the file
that only read it with passes that also replay every flow through the report's
Replayer (CPU seconds; no start-up on either side).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mitmproxy import connection, http
from mitmproxy.io import FlowReader, FlowWriter

AUTHDIAG = Path(sys.executable).with_name("authdiag")
START = 1_780_000_000.0
EXPIRED_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6Im9yZGVycy1h"
    "cGkiLCJleHAiOjE3Nzk5OTY0MDAsImlhdCI6MTc3OTk5MjgwMH0.c2lnbmF0dXJlLW5vdC1jaGVja2Vk"
)
BEARER_401 = b'Bearer realm="api", error="invalid_token", error_description="expired"'


def recorded_flow(n: int) -> http.HTTPFlow:
    """The n-th flow of the session: which kind it is follows n % 100."""
    kind = n % 100
    host = f"api{n % 7}.example.test"
    headers = [(b"Host", host.encode()), (b"User-Agent", b"okhttp/4.12.0")]
    token = EXPIRED_JWT if 94 <= kind < 98 else f"tok-{n // 500:08d}-opaque-access"
    if kind != 98:
        headers.append((b"Authorization", f"Bearer {token}".encode()))
    else:
        headers.append((b"X-API-Key", f"key-{n:016d}".encode()))
    status, response_headers, body = _answer(kind)
    client = connection.Client(
        peername=("10.0.0.7", 40000 + n % 20000),
        sockname=("127.0.0.1", 8080),
        timestamp_start=START + n,
    )
    flow = http.HTTPFlow(client, connection.Server(address=(host, 443)))
    flow.request = http.Request(
        host, 443, b"GET", b"https", host.encode(), f"/v1/orders/{n}".encode(),
        b"HTTP/1.1", http.Headers(headers), b"", None, START + n, START + n,
    )  # fmt: skip
    flow.response = http.Response(
        b"HTTP/1.1", status, b"", http.Headers(response_headers), body, None,
        START + n + 0.05, START + n + 0.06,
    )  # fmt: skip
    return flow


def _answer(kind: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    json = [(b"Content-Type", b"application/json")]
    if kind < 90:
        return 200, json, b'{"order": {"id": 1, "items": []}}'
    if kind < 94:
        return 302, [(b"Location", b"/v1/orders")], b""
    if kind < 98:
        body = b'{"error":"invalid_token","error_description":"expired"}'
        return 401, [*json, (b"WWW-Authenticate", BEARER_401)], body
    if kind == 98:
        return 403, json, b'{"message":"Invalid API key"}'
    return 407, [(b"Proxy-Authenticate", b'Basic realm="corp"')], b""


def write_recording(path: Path, count: int) -> None:
    with path.open("wb") as file:
        writer = FlowWriter(file)
        for n in range(count):
            writer.add(recorded_flow(n))


def read_only(path: Path) -> None:
    """What the report is compared with: every flow read, nothing analysed."""
    with path.open("rb") as file:
        count = sum(1 for _ in FlowReader(file).stream())
    print(f"{count} flows read")


def timed(command: list[str]) -> tuple[float, int]:
    """(elapsed seconds, peak RSS in KiB) of one run, from /usr/bin/time."""
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", *command],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):  # authdiag report: 1 means refusals listed
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    elapsed, rss = done.stderr.strip().splitlines()[-1].split()
    return float(elapsed), int(rss)


def in_process(path: Path, rounds: int) -> None:
    """Reading alone against reading with the report's replay, in one process,
    passes alternating: CPU seconds (time.process_time), without the start-up of
    either and with less room for the machine's speed to drift within a pair."""
    # Imported here: the reader's side (--read-only) must not load authdiag.
    from authdiag.report import Replayer

    logging.getLogger("authdiag").setLevel(logging.ERROR)  # as the report does
    seconds: dict[str, list[float]] = {"reader": [], "report": []}
    for round_number in range(rounds):
        order = ["report", "reader"] if round_number % 2 == 0 else ["reader", "report"]
        for name in order:
            replayer = Replayer(statuses=None, leeway=0.0) if name == "report" else None
            start = time.process_time()
            with path.open("rb") as file:
                for recorded in FlowReader(file).stream():
                    if replayer is not None and isinstance(recorded, http.HTTPFlow):
                        replayer.replay(recorded)
            seconds[name].append(time.process_time() - start)
    ratios = [a / b for a, b in zip(seconds["report"], seconds["reader"], strict=True)]
    for name, values in seconds.items():
        print(f"{name}: {', '.join(f'{s:.2f}' for s in values)} s of CPU")
    print(
        f"in one process, report / reader, median of the per-round ratios: "
        f"{statistics.median(ratios):.2f}x ({', '.join(f'{r:.2f}' for r in ratios)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="compare reading with and without the replay inside one process",
    )
    parser.add_argument("--read-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_only:
        read_only(args.read_only)
        return
    print("$ uv run python benchmarks/offline_report.py " + " ".join(sys.argv[1:]))
    with tempfile.TemporaryDirectory() as folder:
        large, small = Path(folder) / "large.flow", Path(folder) / "small.flow"
        write_recording(large, args.flows)
        if args.in_process:
            print(f"recording: {args.flows:,} flows")
            in_process(large, args.rounds)
            return
        write_recording(small, args.flows // 10)
        print(
            f"recording: {args.flows:,} flows, {large.stat().st_size / 2**20:.0f} MiB"
        )
        commands = {
            "report": [str(AUTHDIAG), "report", "--format", "json", "-o", "/dev/null"],
            "reader": [sys.executable, __file__, "--read-only"],
        }
        runs: dict[str, list[tuple[float, int]]] = {"report": [], "reader": []}
        for round_number in range(args.rounds):
            order = (
                ["report", "reader"] if round_number % 2 == 0 else ["reader", "report"]
            )
            for name in order:
                runs[name].append(timed([*commands[name], str(large)]))
        small_rss = {name: timed([*commands[name], str(small)])[1] for name in commands}
    seconds = {name: [s for s, _ in values] for name, values in runs.items()}
    ratios = [a / b for a, b in zip(seconds["report"], seconds["reader"], strict=True)]
    for name, values in runs.items():
        print(
            f"{name}: median {statistics.median(seconds[name]):.2f} s "
            f"({', '.join(f'{s:.2f}' for s in seconds[name])}); peak RSS "
            f"{max(r for _, r in values) / 1024:.0f} MiB for {args.flows:,} flows, "
            f"{small_rss[name] / 1024:.0f} MiB for {args.flows // 10:,}"
        )
    ratio = statistics.median(ratios)
    verdict = "meets" if ratio <= 1.15 else "MISSES"
    print(
        f"report / reader, median of the per-round ratios: {ratio:.2f}x "
        f"(target <= 1.15x: {verdict})"
    )


if __name__ == "__main__":
    main()
