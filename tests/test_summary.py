"""The per-host, per-cause summary: counting, bounds and wording."""

from __future__ import annotations

import io

import pytest
from mitmproxy import http

from authdiag.render import TextRenderer
from authdiag.summary import OTHER_HOSTS, Summary, host_of, plural, span

T0 = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC


def test_refusals_are_counted_per_host_and_cause_with_first_and_last_time() -> None:
    summary = Summary()
    summary.add("api.example.com", "jwt-expired", T0 + 60)
    summary.add("api.example.com", "jwt-expired", T0)
    summary.add("api.example.com", "jwt-expired", T0 + 30)
    summary.add("api.example.com", "forbidden", T0)

    expired, forbidden = summary.tallies()
    assert (expired.cause, expired.count) == ("jwt-expired", 3)
    assert (expired.first, expired.last) == (T0, T0 + 60)
    assert (forbidden.cause, forbidden.count) == ("forbidden", 1)
    assert len(summary) == 4


def test_hosts_beyond_the_bound_are_tallied_together_per_cause() -> None:
    summary = Summary(max_hosts=2)
    for n in range(10):
        summary.add(f"host{n}.example", "jwt-expired", T0 + n)
    summary.add("host9.example", "forbidden", T0)

    hosts = [tally.host for tally in summary.tallies()]
    assert hosts == ["host0.example", "host1.example", OTHER_HOSTS, OTHER_HOSTS]
    overflow = {t.cause: t.count for t in summary.tallies() if t.host == OTHER_HOSTS}
    assert overflow == {"jwt-expired": 8, "forbidden": 1}
    assert len(summary) == 11


def test_the_summary_stays_bounded_whatever_the_number_of_hosts() -> None:
    summary = Summary(max_hosts=50)
    for n in range(20_000):
        summary.add(f"h{n}.example", "unknown", T0)
    assert len(summary.tallies()) == 51
    assert len(summary) == 20_000


def test_log_lines_name_each_host_and_cause_with_count_and_times() -> None:
    summary = Summary()
    summary.add("127.0.0.1:8443", "jwt-expired", T0)
    summary.add("127.0.0.1:8443", "jwt-expired", T0 + 65)

    heading, line = summary.log_lines()
    assert heading == "authdiag summary: 2 refusals diagnosed on 1 host"
    assert line == (
        "authdiag summary: 127.0.0.1:8443: jwt-expired: 2 refusals, "
        "first 2026-05-28 20:26:40, last 20:27:45 UTC"
    )


def test_an_empty_summary_logs_nothing() -> None:
    assert Summary().log_lines() == []


@pytest.mark.parametrize(
    ("first", "last", "count", "expected"),
    [
        (T0, T0, 1, "at 2026-05-28 20:26:40 UTC"),
        (T0, T0, 5, "at 2026-05-28 20:26:40 UTC"),
        (T0, T0 + 86_400, 2, "first 2026-05-28 20:26:40, last 2026-05-29 20:26:40 UTC"),
    ],
)
def test_span_says_the_date_once_when_both_times_share_it(
    first: float, last: float, count: int, expected: str
) -> None:
    summary = Summary()
    summary.add("h", "c", first)
    (tally,) = summary.tallies()
    tally.count, tally.last = count, last
    assert span(tally) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.com/x", "api.example.com"),
        ("http://api.example.com/x", "api.example.com"),
        ("https://127.0.0.1:8443/x", "127.0.0.1:8443"),
        ("http://api.example.com:443/x", "api.example.com:443"),
        ("https://[::1]:8443/x", "[::1]:8443"),
    ],
)
def test_the_host_keeps_its_port_unless_it_is_the_schemes_default(
    url: str, expected: str
) -> None:
    assert host_of(http.Request.make("GET", url)) == expected


def test_plural_words() -> None:
    assert [plural(1, "flow"), plural(2, "flow"), plural(3, "entry")] == [
        "1 flow",
        "2 flows",
        "3 entries",
    ]


def test_the_text_summary_lines_counts_up_under_each_hosts_longest_cause() -> None:
    summary = Summary()
    summary.add("api.example.com", "wordpress-application-passwords-unavailable", 1.0)
    summary.add("api.example.com", "jwt-expired", 2.0)
    summary.add("auth.example.com", "unknown", 3.0)

    lines = TextRenderer(io.StringIO()).summary(summary)

    rows = [line for line in lines if line.startswith("    ")]
    assert len(rows) == 3
    assert all(len(line) <= 80 for line in lines)
    first_host = [row.index(" 1  at ") for row in rows[:2]]
    assert first_host[0] == first_host[1]  # one column within a host
    assert rows[2].index(" 1  at ") < first_host[0]  # a short one for another
