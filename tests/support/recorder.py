"""A loopback HTTP/1.1 server that records every request byte for byte and
answers each path with a canned response, byte for byte, then closes.

The pass-through tests compare what it received, and what the client received,
through mitmdump with and without authdiag: a server that parses and re-renders
would hide exactly the differences those tests look for.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Mapping
from typing import Self

from tests.support.started import Started

HOST = "127.0.0.1"
MAX_REQUEST = 4 << 20
"""Largest request read, headers and body (the tests send far less)."""


class RecordingServer(Started):
    """``responses`` maps a path (without query) to the raw response sent for it.

    ``received[case]`` lists the raw requests whose query carries ``case=<case>``,
    in the order they arrived.
    With ``context`` set, connections are TLS (the caller's certificate).
    """

    def __init__(
        self, responses: Mapping[str, bytes], context: ssl.SSLContext | None = None
    ) -> None:
        self.responses = dict(responses)
        self.context = context
        self.received: dict[str, list[bytes]] = {}
        self._lock = threading.Lock()
        self._socket = socket.create_server((HOST, 0))
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    def url(self, path: str, case: str) -> str:
        scheme = "https" if self.context else "http"
        return f"{scheme}://{HOST}:{self.port}{path}?case={case}"

    def start(self) -> Self:
        thread = threading.Thread(target=self._serve, name="recorder", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return  # stopped
            worker = threading.Thread(target=self._answer, args=(conn,), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _answer(self, conn: socket.socket) -> None:
        with contextlib.ExitStack() as stack:
            stack.enter_context(conn)
            conn.settimeout(10)
            try:
                if self.context is not None:
                    conn = stack.enter_context(
                        self.context.wrap_socket(conn, server_side=True)
                    )
                request = read_message(conn)
            except (OSError, ValueError):
                return  # a client that gave up, or a failed handshake
            target = request.split(b" ", 2)[1].decode("latin-1")
            path, _, query = target.partition("?")
            case = dict(p.partition("=")[::2] for p in query.split("&")).get("case")
            if case is not None:
                with self._lock:
                    self.received.setdefault(case, []).append(request)
            with contextlib.suppress(OSError):
                conn.sendall(self.responses.get(path, NOT_FOUND))


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def read_message(conn: socket.socket) -> bytes:
    """One HTTP/1.1 request or response with a Content-Length (or none), raw."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("connection closed before the end of the headers")
        data += chunk
        if len(data) > MAX_REQUEST:
            raise ValueError("headers too long")
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def read_until_closed(conn: socket.socket) -> bytes:
    """Everything the peer sends until it closes the connection."""
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
