"""Tally diagnosed refusals per host and cause, for the summary at the end.

The live addon prints the summary when mitmproxy shuts down (also after
``mitmdump -nr FILE``), and ``authdiag report`` closes with it. Memory stays
bounded: at most MAX_HOSTS distinct hosts are tallied by name; refusals from
hosts beyond that are tallied together under OTHER_HOSTS, one entry per cause.
"""

from __future__ import annotations

from dataclasses import dataclass

from mitmproxy import http
from mitmproxy.net.http.url import hostport

from authdiag import observe
from authdiag.describe import timestamp

MAX_HOSTS = 1000
"""Hosts tallied by name; the summary's size is bounded by MAX_HOSTS times the
number of causes, whatever the traffic."""
OTHER_HOSTS = "(other hosts)"


@dataclass(slots=True)
class Tally:
    """How often one cause refused requests to one host, and when."""

    host: str
    cause: str
    count: int
    first: float
    last: float

    def add(self, when: float) -> None:
        self.count += 1
        self.first = min(self.first, when)
        self.last = max(self.last, when)


class Summary:
    """Refusals counted per (host, cause), with the first and last request time."""

    def __init__(self, max_hosts: int = MAX_HOSTS) -> None:
        self.max_hosts = max_hosts
        self._tallies: dict[tuple[str, str], Tally] = {}
        self._hosts: set[str] = set()

    def __len__(self) -> int:
        return sum(tally.count for tally in self._tallies.values())

    def add(self, host: str, cause: str, when: float) -> None:
        """Count one refusal of a request to host, sent at `when` (epoch seconds)."""
        if host not in self._hosts:
            if len(self._hosts) >= self.max_hosts:
                host = OTHER_HOSTS
            else:
                self._hosts.add(host)
        tally = self._tallies.get((host, cause))
        if tally is None:
            self._tallies[(host, cause)] = Tally(host, cause, 1, when, when)
        else:
            tally.add(when)

    def tallies(self) -> list[Tally]:
        """Host by host (the overflow last), most frequent cause first."""
        return sorted(
            self._tallies.values(),
            key=lambda t: (t.host == OTHER_HOSTS, t.host, -t.count, t.cause),
        )

    def log_lines(self) -> list[str]:
        """The summary as log lines: a heading, then one line per host and cause."""
        tallies = self.tallies()
        if not tallies:
            return []
        hosts = len({tally.host for tally in tallies})
        lines = [
            f"authdiag summary: {plural(len(self), 'refusal')} diagnosed "
            f"on {plural(hosts, 'host')}"
        ]
        lines += [
            f"authdiag summary: {t.host}: {t.cause}: {plural(t.count, 'refusal')}, "
            f"{span(t)}"
            for t in tallies
        ]
        return lines


def host_of(request: http.Request) -> str:
    """The host a request went to, with its port unless it is the scheme's default."""
    host = observe.pretty_host(request)
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    return hostport(request.scheme, host, request.port)


def span(tally: Tally) -> str:
    """When a tally's refusals happened: one time, or the first and the last."""
    if tally.count == 1 or tally.first == tally.last:
        return f"at {timestamp(tally.first)}"
    first, last = timestamp(tally.first), timestamp(tally.last)
    if first[:10] == last[:10]:
        last = last[11:]  # same day: the date once is enough
    return f"first {first.removesuffix(' UTC')}, last {last}"


def plural(count: int, noun: str) -> str:
    """'1 flow', '2 flows', '3 entries'."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"
