"""Live overhead: mitmdump's own CPU time per request, with and without authdiag.

    uv run python benchmarks/live_overhead.py [--requests 3000] [--rounds 5]

A small HTTP/1.1 server on loopback, three mitmdumps in front of it (one with
``-s addon/diag.py``, one without, and one that imports authdiag's modules but
adds no addon, benchmarks/modules_only.py; all with benchmarks/hook_timer.py), and
hey (Debian's package) sending a fixed number of keep-alive requests through one
proxy after the other, the order rotating each round. Throughput on a shared
2-core machine swings by 20 % from round to round, so what is compared is the
CPU time each mitmdump process spent (user + sys, /proc/PID/stat) per request,
and the CPU time authdiag's hooks took inside it (hook_timer) as a share of
that. Two scenarios: a 2xx response, and a 401 whose request carries a JWT that
authdiag analyses. Every request carries the same Authorization header.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

REPO = Path(__file__).resolve().parents[1]
MITMDUMP = Path(sys.executable).with_name("mitmdump")
TIMER_OVERHEAD = "(timer overhead)"
"""The label hook_timer.py writes its own cost per call under."""
HOST = "127.0.0.1"
TICKS = os.sysconf("SC_CLK_TCK")
TOKEN = jwt.encode(
    {
        "sub": "alice",
        "aud": "orders-api",
        "iss": "https://auth.example.test/",
        "exp": 1_700_000_000,
        "iat": 1_699_996_400,
        "scope": "orders:read",
    },
    "a-benchmark-signing-key-that-is-long-enough",
    algorithm="HS256",
)
BODY_401 = b'{"error":"invalid_token","error_description":"The access token expired"}'
RESPONSES = {
    b"/ok": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b'Content-Length: 15\r\n\r\n{"orders": []}\n',
    b"/jwt": b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
    b'WWW-Authenticate: Bearer realm="orders", error="invalid_token", '
    b'error_description="The access token expired"\r\n'
    b"Date: Tue, 14 Nov 2023 22:13:20 GMT\r\n"
    + b"Content-Length: %d\r\n\r\n" % len(BODY_401)
    + BODY_401,
}
SCENARIOS = {"2xx": "/ok", "401 with a JWT": "/jwt"}


# --- the upstream server (its own process, so it shares no GIL) ------------------


async def serve(port: int) -> None:
    async def answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                path = head.split(b" ", 2)[1].split(b"?", 1)[0]
                writer.write(RESPONSES.get(path, RESPONSES[b"/ok"]))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(answer, HOST, port)
    async with server:
        await server.serve_forever()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --- the proxies ------------------------------------------------------------------


@dataclass
class Proxy:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    hook_times: Path

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1]
        utime, stime = fields.split()[11:13]
        return (int(utime) + int(stime)) / TICKS

    def stop(self) -> dict[str, list[float]]:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(30)
        if not self.hook_times.exists():
            return {}
        times: dict[str, list[float]] = json.loads(self.hook_times.read_text())
        return times


SIDES = {
    "plain": [],
    "modules only": [REPO / "benchmarks" / "modules_only.py"],
    "authdiag": [REPO / "addon" / "diag.py"],
}
"""Each mitmdump compared, by the scripts it loads besides the hook timer."""


def start_proxy(name: str, workdir: Path) -> Proxy:
    port = free_port()
    scripts = []
    for script in [*SIDES[name], REPO / "benchmarks" / "hook_timer.py"]:
        scripts += ["-s", str(script)]
    hook_times = workdir / f"{name.replace(' ', '-')}-hooks.json"
    command = [
        str(MITMDUMP),
        "--listen-host",
        HOST,
        "-p",
        str(port),
        "--set",
        f"confdir={workdir / 'confdir'}",
        *scripts,
    ]
    env = {**os.environ, "AUTHDIAG_HOOK_TIMES": str(hook_times)}
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return Proxy(name, process, port, hook_times)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"mitmdump ({name}) did not start: {' '.join(command)}")


# --- load ---------------------------------------------------------------------------


def run_hey(proxy: Proxy, upstream: int, path: str, requests: int) -> int:
    """Send exactly ``requests`` keep-alive requests; how many were answered."""
    command = [
        "hey",
        "-n",
        str(requests),
        "-c",
        "4",
        "-x",
        f"http://{HOST}:{proxy.port}",
        "-H",
        f"Authorization: Bearer {TOKEN}",
        f"http://{HOST}:{upstream}{path}",
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    answered = sum(int(n) for n in re.findall(r"\[\d{3}\]\s+(\d+) responses", out))
    if answered != requests:
        raise SystemExit(f"hey got {answered} of {requests} answers:\n{out}")
    return answered


def cpu_per_request(proxy: Proxy, upstream: int, path: str, requests: int) -> float:
    before = proxy.cpu_seconds()
    done = run_hey(proxy, upstream, path, requests)
    return (proxy.cpu_seconds() - before) / done


def measure(
    scenario: str,
    path: str,
    upstream: int,
    args: argparse.Namespace,
    workdir: Path,
) -> None:
    proxies = [start_proxy(name, workdir) for name in SIDES]
    hooks: dict[str, dict[str, list[float]]] = {}
    try:
        for proxy in proxies:  # warm-up: imports, caches, first connections
            run_hey(proxy, upstream, path, args.requests // 5)
        per_request: dict[str, list[float]] = {name: [] for name in SIDES}
        for round_number in range(args.rounds):
            shift = round_number % len(proxies)
            for proxy in proxies[shift:] + proxies[:shift]:
                cpu = cpu_per_request(proxy, upstream, path, args.requests)
                per_request[proxy.name].append(cpu)
    finally:
        for proxy in proxies:
            hooks[proxy.name] = proxy.stop()
    report(scenario, per_request, hooks)


def report(
    scenario: str,
    per_request: dict[str, list[float]],
    hooks_of: dict[str, dict[str, list[float]]],
) -> None:
    hooks = hooks_of["authdiag"]
    calibration_calls, overhead_seconds = hooks.pop(TIMER_OVERHEAD)
    for other in ("plain", "modules only"):
        hooks_of[other].pop(TIMER_OVERHEAD)
        assert not hooks_of[other], f"the {other} mitmdump must have no authdiag hook"
    overhead = overhead_seconds / calibration_calls
    flows = max(
        (calls for label, (calls, _) in hooks.items() if label.endswith(".response")),
        default=0,
    )
    hook_seconds = sum(seconds for _, seconds in hooks.values())
    hook_calls = sum(calls for calls, _ in hooks.values())
    own_seconds = hook_seconds - overhead * hook_calls
    milliseconds = {n: statistics.median(v) * 1e3 for n, v in per_request.items()}
    addon_ms = milliseconds["authdiag"]
    print(f"\n## {scenario}")
    print(
        f"mitmdump CPU per request, median of {len(per_request['plain'])} rounds: "
        + ", ".join(f"{name} {ms:.3f} ms" for name, ms in milliseconds.items())
    )
    for name in ("modules only", "authdiag"):
        ratios = [
            side / plain
            for side, plain in zip(per_request[name], per_request["plain"], strict=True)
        ]
        added = (statistics.median(ratios) - 1) * 100
        print(f"{name} / plain, per round: " + ", ".join(f"{r:.3f}" for r in ratios))
        print(f"  CPU added (median of the per-round ratios): {added:+.2f} %")
    for what, seconds in (("as timed", hook_seconds), ("own", own_seconds)):
        per_flow = seconds / flows if flows else float("nan")
        share = per_flow / (addon_ms / 1e3) * 100
        print(
            f"authdiag hook CPU per flow, {what}: {per_flow * 1e6:.1f} µs over "
            f"{flows} flows = {share:.2f} % of mitmdump's CPU per request"
        )
    print(
        f"  (own: less the timer's {overhead * 1e6:.2f} µs per hook call, "
        f"{hook_calls / flows if flows else 0:.2f} calls per flow)"
    )
    for label, (calls, seconds) in sorted(hooks.items(), key=lambda item: -item[1][1]):
        if calls:
            print(f"  {label}: {calls} calls, {seconds / calls * 1e6:.1f} µs each")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=3000, help="per proxy per round"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    if shutil.which("hey") is None:
        raise SystemExit(
            "live_overhead needs the load generator hey on PATH "
            "(Debian: apt-get install hey)"
        )
    print("$ uv run python benchmarks/live_overhead.py " + " ".join(sys.argv[1:]))
    print(
        f"hey -c 4 (keep-alive), {args.requests} requests per proxy per round, "
        f"{args.rounds} rounds, order rotating; "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    upstream = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(upstream)])
    try:
        with tempfile.TemporaryDirectory() as folder:
            time.sleep(0.5)
            for scenario, path in SCENARIOS.items():
                measure(scenario, path, upstream, args, Path(folder))
    finally:
        server.terminate()
        server.wait(10)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
