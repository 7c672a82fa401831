"""Read captures (mitmproxy .flow files and HAR files) as a stream of flows.

Both are read incrementally, so memory stays constant whatever the file's size:
.flow files through mitmproxy's own FlowReader, HAR files by streaming the
`log.entries` array with ijson and turning each entry into a flow with
mitmproxy's own `request_to_flow` (mitmproxy's FlowReader would load a whole HAR
with json.load). Nothing here interprets HTTP or HAR semantics itself.

A capture that is damaged part-way yields the flows before the damage, then
raises CaptureDamaged, which says where the damage is; a file that is missing or
not a capture at all raises CaptureUnreadable before yielding anything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, Self

import ijson
from mitmproxy import exceptions, flow
from mitmproxy.io import FlowReader, har

HEAD_SIZE = 64
"""Bytes looked at to tell a .flow file from a HAR."""
HAR_ENTRIES = "log.entries.item"
HAR_PARSING: dict[str, Any] = {"buf_size": 64 * 1024, "use_float": True}
"""use_float: mitmproxy's request_to_flow divides `time` by a float, which a
Decimal (ijson's default) refuses."""
PYTHON_JSON = ijson.get_backend("python")
"""ijson's pure-Python parser: slow, but it yields every entry before damage and
says where the damage is."""
MAX_SKIPPED_SHOWN = 20
"""HAR entries that cannot be read are named individually up to this many."""

UTF8_BOM = b"\xef\xbb\xbf"
TNETSTRING_START = re.compile(rb"\d{1,12}:")

KNOWN_OTHER_FORMATS: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "a gzip file: decompress it first (gunzip)"),
    (b"PK\x03\x04", "a zip archive (a Fiddler .saz?): export a HAR instead"),
    (b"\xd4\xc3\xb2\xa1", "a pcap capture: authdiag reads mitmproxy flows and HAR"),
    (b"\x0a\x0d\x0d\x0a", "a pcapng capture: authdiag reads mitmproxy flows and HAR"),
    (b"<", "HTML or XML"),
    (b"[", "a JSON array, not a HAR (a HAR is an object with a 'log')"),
)


class CaptureKind(StrEnum):
    FLOW = "flow"
    HAR = "har"


class CaptureUnreadable(Exception):
    """The file cannot be read at all: missing, unreadable, or not a capture."""


class CaptureDamaged(Exception):
    """The capture is damaged at `position`; the flows before it were read."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


@dataclass
class Capture:
    """An open capture file; iterate `flows()` once, then close it."""

    path: Path
    kind: CaptureKind
    size: int
    file: BinaryIO = field(repr=False)
    start: int = 0
    """Where the content starts (after a byte order mark)."""
    flows_read: int = 0
    skipped: list[str] = field(default_factory=list)
    """HAR entries that mitmproxy could not turn into a flow, with the reason
    (at most MAX_SKIPPED_SHOWN; skipped_count has them all)."""
    skipped_count: int = 0

    @property
    def position(self) -> int:
        """Bytes read so far (for progress)."""
        try:
            return self.file.tell()
        except (OSError, ValueError):
            return self.size

    def flows(self) -> Iterator[tuple[int, flow.Flow]]:
        """(position in the capture from 1, flow) for every flow it holds."""
        if self.kind is CaptureKind.FLOW:
            return self._flow_file()
        return self._har_file()

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- mitmproxy .flow files --------------------------------------------------

    def _flow_file(self) -> Iterator[tuple[int, flow.Flow]]:
        stream = iter(FlowReader(self.file).stream())
        while True:
            start = self.position
            try:
                loaded = next(stream)
            except StopIteration:
                return
            # The reader raises FlowReadException for framing errors but lets
            # others through (a KeyError from a record with fields missing):
            # whatever it raises, the file is damaged at this record.
            except Exception as error:
                raise CaptureDamaged(self._flow_damage(start, error), start) from None
            self.flows_read += 1
            yield self.flows_read, loaded

    def _flow_damage(self, start: int, error: BaseException) -> str:
        record = self.flows_read + 1
        declared = _declared_record_end(self.path, start)
        if declared is not None and declared > self.size:
            return (
                f"the file ends in the middle of flow {record} (it starts at byte "
                f"{start:,} and needs {declared - start:,} bytes; the file has "
                f"{self.size:,}): the copy is truncated, or mitmproxy was still "
                f"writing it"
            )
        return f"flow {record}, at byte {start:,}, is corrupt: {_flow_reason(error)}"

    # --- HAR files --------------------------------------------------------------

    def _har_file(self) -> Iterator[tuple[int, flow.Flow]]:
        entries = 0
        try:
            for entry in ijson.items(self.file, HAR_ENTRIES, **HAR_PARSING):
                entries += 1
                yield from self._har_entry(entries, entry)
        except OSError as error:
            raise CaptureDamaged(
                f"cannot read past entry {entries}: {error.strerror}", self.position
            ) from None
        except (ijson.JSONError, ValueError):
            # The fast parser fails a whole buffer at once, before yielding the
            # entries it parsed from it; the slow one recovers those and says
            # exactly where the damage is.
            yield from self._har_recovered(entries)
            return
        if entries == 0 and not _har_has_entries(self.path, self.start):
            raise CaptureUnreadable(
                f"{self.path} is JSON but not a HAR: it has no log.entries array"
            )

    def _har_recovered(self, done: int) -> Iterator[tuple[int, flow.Flow]]:
        self.file.close()
        self.file = self.path.open("rb")
        self.file.seek(self.start)
        entries = 0
        parsed = PYTHON_JSON.items(self.file, HAR_ENTRIES, **HAR_PARSING)
        try:
            for entry in parsed:
                entries += 1
                if entries > done:
                    yield from self._har_entry(entries, entry)
        # ijson's errors, and the ValueErrors of the text decoding and string
        # unescaping it leaves to the json and codecs modules.
        except (ijson.JSONError, ValueError) as error:
            raise self._har_damage(entries, error) from None
        # Only the fast parser saw damage: say so rather than nothing.
        raise CaptureDamaged(
            f"invalid JSON after entry {entries} (the file does not parse)", self.size
        )

    def _har_entry(self, index: int, entry: Any) -> Iterator[tuple[int, flow.Flow]]:
        """The entry as a flow, or nothing if mitmproxy cannot read it."""
        try:
            converted = har.request_to_flow(entry)
        except Exception as error:
            # request_to_flow assumes a well-formed entry and raises whatever the
            # missing or mistyped field provokes; the entry is skipped, not the file.
            self.skipped_count += 1
            if len(self.skipped) < MAX_SKIPPED_SHOWN:
                reason = _entry_reason(error)
                self.skipped.append(f"entry {index} is not a request: {reason}")
            return
        self.flows_read += 1
        yield index, converted

    def _har_damage(self, entries: int, error: Exception) -> CaptureDamaged:
        text = str(error)
        if isinstance(error, ijson.IncompleteJSONError):
            return CaptureDamaged(
                f"the file ends in the middle of entry {entries + 1}: the copy is "
                f"truncated, or it was still being written",
                self.size,
            )
        # "Unexpected symbol '!' at 1234": the offset counts characters of the
        # text (after the byte order mark, if any).
        found = re.search(r"symbol (.+) at (\d+)$", text)
        if found is None:
            what = "not UTF-8" if isinstance(error, UnicodeError) else "invalid JSON"
            kind = type(error).__name__
            return CaptureDamaged(f"{what} after entry {entries} ({kind})", self.size)
        offset = int(found.group(2))
        where = f"after entry {entries}" if entries else "before entry 1"
        message = (
            f"invalid JSON {where}, at character {offset:,}: unexpected "
            f"{found.group(1)}"
        )
        return CaptureDamaged(message, offset)


def open_capture(path: Path) -> Capture:
    """Open a .flow or HAR file, telling them apart by their first bytes."""
    try:
        if path.is_dir():
            raise CaptureUnreadable(
                f"{path} is a directory, not a capture: name the files in it "
                f"(e.g. {path}/*.flow)"
            )
        file = path.open("rb")
    except OSError as error:
        raise CaptureUnreadable(f"cannot open {path}: {error.strerror}") from None
    try:
        size = os.fstat(file.fileno()).st_size
        head = file.read(HEAD_SIZE)
        kind = _kind(path, head)
        # Fiddler and some browsers start a HAR with a UTF-8 byte order mark.
        file.seek(len(UTF8_BOM) if head.startswith(UTF8_BOM) else 0)
    except CaptureUnreadable:
        file.close()
        raise
    except OSError as error:
        file.close()
        raise CaptureUnreadable(f"cannot read {path}: {error.strerror}") from None
    return Capture(path=path, kind=kind, size=size, file=file, start=file.tell())


def _kind(path: Path, head: bytes) -> CaptureKind:
    stripped = head.removeprefix(UTF8_BOM).lstrip()
    if not head or TNETSTRING_START.match(head):
        # An empty file is what mitmdump -w leaves when nothing was captured.
        return CaptureKind.FLOW
    if stripped.startswith(b"{"):
        return CaptureKind.HAR
    for magic, what in KNOWN_OTHER_FORMATS:
        if stripped.startswith(magic):
            raise CaptureUnreadable(
                f"{path} is not a mitmproxy .flow file nor a HAR: it looks like {what}"
            )
    shown = " ".join(f"{byte:02x}" for byte in head[:4])
    raise CaptureUnreadable(
        f"{path} is not a mitmproxy .flow file nor a HAR: it starts with bytes "
        f"{shown}, where a .flow file starts with a length such as '1234:' and a "
        f"HAR with '{{'"
    )


def _declared_record_end(path: Path, start: int) -> int | None:
    """Where the tnetstring record at `start` says it ends (None: no length there).

    Only the record's length prefix is read, to tell a truncated file from a
    corrupt one; the record itself is mitmproxy's to parse.
    """
    with path.open("rb") as file:
        file.seek(start)
        found = TNETSTRING_START.match(file.read(14))
    if found is None:
        return None
    # prefix, the data, and one type character
    return start + len(found.group()) + int(found.group()[:-1]) + 1


def _flow_reason(error: BaseException) -> str:
    root = error
    while root.__cause__ is not None:
        root = root.__cause__
    text = str(root)
    if isinstance(root, exceptions.FlowReadException) and "version" in text:
        return text
    if "cannot read files with flow format version" in text:
        return text  # mitmproxy's own message, which names the versions
    if text.startswith("not a tnetstring: "):
        # Keep the kind of error; what follows it quotes the file's bytes.
        return text.removeprefix("not a tnetstring: ").split(":")[0]
    return f"mitmproxy cannot read the record as a flow ({type(root).__name__})"


def _entry_reason(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"it has no {error.args[0]!r}"
    # Messages may quote the entry's values (a URL with a token in it): only
    # short ones without quotes are shown.
    text = str(error)
    if text and len(text) <= 80 and not re.search(r"['\"]", text):
        return f"{type(error).__name__}: {text}"
    return f"mitmproxy cannot convert it ({type(error).__name__})"


def _har_has_entries(path: Path, start: int) -> bool:
    """Whether a HAR that yielded no entry has a log.entries array at all."""
    with path.open("rb") as file:
        file.seek(start)
        try:
            for prefix, event, _ in ijson.parse(file, buf_size=64 * 1024):
                if prefix == "log.entries" and event == "start_array":
                    return True
        except ijson.JSONError:
            return False
    return False
