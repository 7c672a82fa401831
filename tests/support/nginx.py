"""Run Debian's nginx on loopback with a configuration written at test time.

``Nginx(workdir, *server_blocks)`` writes a complete nginx.conf under ``workdir``
(pid, logs and temp paths all inside it), one server per block, each listening
on a free loopback port of its own (``ports``, in order; ``{port}`` in a block
is replaced with its port), starts ``nginx -p WORKDIR -c CONF`` in the
foreground and stops it by the PID it started. Reusable by any test that needs
nginx in front of something (reverse proxy, auth_basic, TLS client
certificates: see tests/support/mtls.py).

By default a master runs with one worker, which drops root for nginx's
unprivileged user as in production (a test of an unreadable file needs that),
so ``workdir`` must be readable by that user; ``single_process`` runs nginx as
one process of the current user instead.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Self

from tests.support.proxy import HOST, free_port
from tests.support.started import Started

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONFIG = """\
daemon off;
master_process {master};
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
{servers}
}}
"""
SERVER = """\
    server {{
        listen {host}:{port}{listen_options};
{block}
    }}
"""


class NginxError(RuntimeError):
    """nginx did not start or its configuration was refused."""


class Nginx(Started):
    """One nginx (a master and its worker, or a single process) started by this
    test session."""

    def __init__(
        self,
        workdir: Path,
        *server_blocks: str,
        listen_options: str = "",
        single_process: bool = False,
    ) -> None:
        self.workdir = workdir
        self.server_blocks = server_blocks
        self.listen_options = listen_options
        """Added to every listen directive, e.g. ' ssl'."""
        self.single_process = single_process
        self.ports: list[int] = []
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        """The first server's port."""
        return self.ports[0]

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
        self.ports = [free_port() for _ in self.server_blocks]
        servers = "".join(
            SERVER.format(
                host=HOST,
                port=port,
                listen_options=self.listen_options,
                block=block.replace("{port}", str(port)),
            )
            for port, block in zip(self.ports, self.server_blocks, strict=True)
        )
        master = "off" if self.single_process else "on"
        self.config_path.write_text(
            CONFIG.format(workdir=self.workdir, master=master, servers=servers)
        )
        self._check_config()
        self._process = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_listening(timeout)
        return self

    def _command(self, *options: str) -> list[str]:
        # -e: what nginx says before it has read the configuration goes to this
        # test's log, not the system's.
        return [
            NGINX,
            *options,
            *("-p", str(self.workdir), "-c", str(self.config_path)),
            *("-e", str(self.workdir / "error.log")),
        ]

    def _check_config(self) -> None:
        checked = subprocess.run(
            self._command("-t"),
            capture_output=True,
            text=True,
            check=False,
        )
        if checked.returncode != 0:
            raise NginxError(f"nginx refused its configuration:\n{checked.stderr}")

    def _wait_until_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(self.ports)
        while waiting and time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise NginxError(f"nginx exited:\n{self.error_log()}")
            try:
                with socket.create_connection((HOST, waiting[0]), timeout=0.5):
                    waiting.pop(0)
            except OSError:
                time.sleep(0.05)
        if waiting:
            self.stop()
            raise NginxError(
                f"nginx did not listen within {timeout} s:\n{self.error_log()}"
            )

    def stop(self) -> None:
        """Quit gracefully (SIGQUIT), kill if it hangs; the workers exit with it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGQUIT)  # nginx's graceful shutdown
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
