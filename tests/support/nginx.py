"""Run Debian's nginx on loopback with a configuration written at test time.

``Nginx(workdir, server_block)`` writes a complete nginx.conf under ``workdir``
(pid, logs and temp paths all inside it), starts ``nginx -p WORKDIR -c CONF`` in
the foreground on a free loopback port, and stops it by the PID it started.
``{port}`` in the server block is replaced with the chosen port. Reusable by any
test that needs nginx in front of something (reverse proxy, auth_basic, TLS).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.proxy import HOST, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/tmp/body;
    proxy_temp_path {workdir}/tmp/proxy;
    fastcgi_temp_path {workdir}/tmp/fastcgi;
    uwsgi_temp_path {workdir}/tmp/uwsgi;
    scgi_temp_path {workdir}/tmp/scgi;
    server {{
        listen {host}:{port};
{server}
    }}
}}
"""


class NginxError(RuntimeError):
    """nginx did not start or its configuration was refused."""


class Nginx:
    """One nginx master (and its worker) started by this test session."""

    def __init__(self, workdir: Path, server_block: str) -> None:
        self.workdir = workdir
        self.server_block = server_block
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "nginx.conf"

    def error_log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, timeout: float = 10.0) -> Self:
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        block = self.server_block.replace("{port}", str(self.port))
        self.config_path.write_text(
            CONFIG.format(workdir=self.workdir, host=HOST, port=self.port, server=block)
        )
        self._check_config()
        self._process = subprocess.Popen(
            [NGINX, "-p", str(self.workdir), "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_listening(timeout)
        return self

    def _check_config(self) -> None:
        checked = subprocess.run(
            [NGINX, "-t", "-p", str(self.workdir), "-c", str(self.config_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if checked.returncode != 0:
            raise NginxError(f"nginx refused its configuration:\n{checked.stderr}")

    def _wait_until_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise NginxError(f"nginx exited:\n{self.error_log()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise NginxError(
            f"nginx did not listen within {timeout} s:\n{self.error_log()}"
        )

    def stop(self) -> None:
        """Quit gracefully (SIGQUIT), kill if it hangs; the workers exit with it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
