"""Reading captures: .flow and HAR files, whole, damaged, or of another kind.

The files are real: .flow files written by mitmproxy's FlowWriter from flows of
the bundled recordings, and the HAR Chromium wrote. Damage is made by cutting
or overwriting bytes at known places, so each test knows where it must be named.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy import http
from mitmproxy.io import FlowWriter
from tests.support.offline import RECORDINGS, credentials_sent, flows_in

from authdiag.captures import (
    MAX_SKIPPED_SHOWN,
    CaptureDamaged,
    CaptureKind,
    CaptureUnreadable,
    open_capture,
)

BROWSER_HAR = RECORDINGS / "browser.har"


def read_all(path: Path) -> list[tuple[int, http.HTTPFlow]]:
    with open_capture(path) as capture:
        return [(n, f) for n, f in capture.flows() if isinstance(f, http.HTTPFlow)]


def read_until_damage(path: Path) -> tuple[list[int], CaptureDamaged]:
    read: list[int] = []
    with open_capture(path) as capture, pytest.raises(CaptureDamaged) as damage:
        for n, _ in capture.flows():
            read.append(n)
    return read, damage.value


def write_flows(path: Path, flows: list[http.HTTPFlow]) -> list[int]:
    """Write flows with mitmproxy's FlowWriter; the byte offset of each record."""
    buffer = io.BytesIO()
    writer = FlowWriter(buffer)
    offsets = []
    for flow in flows:
        offsets.append(buffer.tell())
        writer.add(flow)
    path.write_bytes(buffer.getvalue())
    return offsets


@pytest.fixture
def tour_flows() -> list[http.HTTPFlow]:
    return flows_in(RECORDINGS / "tour.flow")[:6]


# --- whole files --------------------------------------------------------------------


def test_a_flow_file_yields_every_flow_with_its_position(
    tmp_path: Path, tour_flows: list[http.HTTPFlow]
) -> None:
    path = tmp_path / "whole.flow"
    write_flows(path, tour_flows)

    read = read_all(path)

    assert [n for n, _ in read] == list(range(1, len(tour_flows) + 1))
    assert [f.id for _, f in read] == [f.id for f in tour_flows]
    with open_capture(path) as capture:
        assert capture.kind is CaptureKind.FLOW


def test_an_empty_file_is_a_flow_file_with_no_flows(tmp_path: Path) -> None:
    # mitmdump -w leaves an empty file when nothing was captured.
    path = tmp_path / "empty.flow"
    path.write_bytes(b"")
    assert read_all(path) == []


def test_a_browser_har_yields_one_flow_per_entry_with_the_entry_time() -> None:
    entries = json.loads(BROWSER_HAR.read_text())["log"]["entries"]

    read = read_all(BROWSER_HAR)

    assert [n for n, _ in read] == list(range(1, len(entries) + 1))
    assert [f.request.url for _, f in read] == [e["request"]["url"] for e in entries]
    assert [f.response.status_code for _, f in read if f.response] == [
        e["response"]["status"] for e in entries
    ]
    first = read[0][1].request.timestamp_start
    assert abs(first - _har_time(entries[0]["startedDateTime"])) < 0.001


def test_a_har_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.har"
    path.write_bytes(b"\xef\xbb\xbf" + BROWSER_HAR.read_bytes())
    assert len(read_all(path)) == len(read_all(BROWSER_HAR))


# --- damaged files ------------------------------------------------------------------


def test_a_truncated_flow_file_yields_the_flows_before_the_cut_and_names_it(
    tmp_path: Path, tour_flows: list[http.HTTPFlow]
) -> None:
    path = tmp_path / "cut.flow"
    offsets = write_flows(path, tour_flows)
    data = path.read_bytes()
    path.write_bytes(data[: offsets[4] + 100])  # inside the fifth record

    read, damage = read_until_damage(path)

    assert read == [1, 2, 3, 4]
    assert damage.position == offsets[4]
    assert "ends in the middle of flow 5" in str(damage)
    assert f"starts at byte {offsets[4]:,}" in str(damage)
    assert "truncated" in str(damage)


def test_garbage_between_records_is_corruption_at_that_byte(
    tmp_path: Path, tour_flows: list[http.HTTPFlow]
) -> None:
    path = tmp_path / "garbage.flow"
    offsets = write_flows(path, tour_flows)
    data = path.read_bytes()
    path.write_bytes(data[: offsets[2]] + b"#garbage#" + data[offsets[2] :])

    read, damage = read_until_damage(path)

    assert read == [1, 2]
    assert damage.position == offsets[2]
    assert str(damage) == (
        f"flow 3, at byte {offsets[2]:,}, is corrupt: missing or invalid length prefix"
    )


def test_a_record_that_is_not_a_flow_is_corruption_and_quotes_nothing(
    tmp_path: Path, tour_flows: list[http.HTTPFlow]
) -> None:
    path = tmp_path / "mangled.flow"
    offsets = write_flows(path, tour_flows)
    data = bytearray(path.read_bytes())
    record = data[offsets[1] : offsets[2]]
    # Same length, so the framing holds; but the flow has no request any more.
    mangled = record.replace(b"7:request;", b"7:reqXest;", 1)
    assert mangled != record
    data[offsets[1] : offsets[2]] = mangled
    path.write_bytes(bytes(data))

    read, damage = read_until_damage(path)

    assert read == [1]
    assert damage.position == offsets[1]
    assert "flow 2" in str(damage) and "is corrupt" in str(damage)
    for secret in credentials_sent(tour_flows):
        assert secret not in str(damage)


def test_a_truncated_har_yields_the_entries_before_the_cut(tmp_path: Path) -> None:
    data = BROWSER_HAR.read_bytes()
    path = tmp_path / "cut.har"
    path.write_bytes(data[: len(data) * 2 // 3])

    read, damage = read_until_damage(path)

    assert read and read == list(range(1, len(read) + 1))
    assert f"ends in the middle of entry {len(read) + 1}" in str(damage)
    assert damage.position == len(data) * 2 // 3


def test_invalid_json_in_a_har_is_located_and_not_quoted(tmp_path: Path) -> None:
    har = json.loads(BROWSER_HAR.read_text())
    text = json.dumps(har)
    second = text.index(', {"pageref"', text.index('"entries"')) + 2
    path = tmp_path / "broken.har"
    path.write_text(text[:second] + "!!" + text[second:])

    read, damage = read_until_damage(path)

    assert read == [1]
    assert str(damage) == (
        f"invalid JSON after entry 1, at character {second:,}: unexpected '!'"
    )
    assert damage.position == second
    assert "\n" not in str(damage)
    for secret in credentials_sent(flows_in(RECORDINGS / "browser.flow")):
        assert secret not in str(damage)


def test_a_har_entry_mitmproxy_cannot_read_is_skipped_and_the_rest_read(
    tmp_path: Path,
) -> None:
    har = json.loads(BROWSER_HAR.read_text())
    entries = har["log"]["entries"]
    del entries[1]["request"]
    entries[2]["startedDateTime"] = "yesterday"
    path = tmp_path / "odd.har"
    path.write_text(json.dumps(har))

    with open_capture(path) as capture:
        read = [n for n, _ in capture.flows()]
        skipped = capture.skipped

    assert read == [1, *range(4, len(entries) + 1)]
    assert skipped[0] == "entry 2 is not a request: it has no 'request'"
    assert skipped[1].startswith("entry 3 is not a request:")


def test_only_the_first_skipped_entries_are_named(tmp_path: Path) -> None:
    entry = {"startedDateTime": "2026-01-01T00:00:00Z"}
    path = tmp_path / "many.har"
    path.write_text(json.dumps({"log": {"entries": [entry] * 50}}))

    with open_capture(path) as capture:
        assert list(capture.flows()) == []
        assert capture.skipped_count == 50
        assert len(capture.skipped) == MAX_SKIPPED_SHOWN


# --- not captures at all ------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (PNG, "it starts with bytes 89 50 4e 47"),
        (gzip.compress(b"10:abc"), "gzip file: decompress it first"),
        (b"PK\x03\x04rest", "zip archive"),
        (b"<html><title>Login</title></html>", "HTML or XML"),
        (b'[{"a": 1}]', "a JSON array, not a HAR"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "it starts with bytes 47 45 54 20"),
    ],
    ids=["png", "gzip", "zip", "html", "json-array", "text"],
)
def test_a_file_of_another_kind_is_named_as_such(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "capture.flow"
    path.write_bytes(content)
    with pytest.raises(CaptureUnreadable) as refused:
        read_all(path)
    assert str(path) in str(refused.value)
    assert "is not a mitmproxy .flow file nor a HAR" in str(refused.value)
    assert message in str(refused.value)


def test_json_without_log_entries_is_not_a_har(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"log": {"version": "1.2"}, "other": [1, 2]}))
    with pytest.raises(CaptureUnreadable, match="JSON but not a HAR"):
        read_all(path)


def test_a_har_with_no_entries_is_read_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": []}}))
    assert read_all(path) == []


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(CaptureUnreadable, match="No such file or directory"):
        open_capture(tmp_path / "nowhere.flow")


def test_a_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(CaptureUnreadable, match="is a directory, not a capture"):
        open_capture(tmp_path)


# --- anything at all ----------------------------------------------------------------

ALLOWED = (CaptureUnreadable, CaptureDamaged)


def _read_anything(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        with open_capture(path) as capture:
            for _ in capture.flows():
                pass
    except ALLOWED:
        pass


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_raise_nothing_but_the_declared_errors(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    _read_anything(tmp_path_factory.mktemp("any") / "any", data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.floats(min_value=0, max_value=1, exclude_max=True),
    junk=st.binary(min_size=1, max_size=8),
    source=st.sampled_from(["jwt-expired.flow", "browser.har"]),
)
def test_a_real_capture_with_bytes_overwritten_raises_nothing_else(
    tmp_path_factory: pytest.TempPathFactory, where: float, junk: bytes, source: str
) -> None:
    data = bytearray((RECORDINGS / source).read_bytes())
    at = int(where * len(data))
    data[at : at + len(junk)] = junk
    _read_anything(tmp_path_factory.mktemp("mutated") / source, bytes(data))


def _har_time(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
