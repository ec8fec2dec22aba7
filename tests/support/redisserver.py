"""A real redis-server on a free port of 127.0.0.1, for Celery integration tests and benchmarks.

`RedisServer(workdir)` runs its own `redis-server` (no config file, nothing shared with a
system Redis) with the append-only file on and fsynced on every write, so `stop()` then
`start()` (or even `kill()` then `start()`) on the same port keeps every queued task, as the
compose stack's Redis does. Tests import the `redis_server` fixture; without a
`redis-server` binary the test is skipped, or fails when CI=true.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

__all__ = ["RedisServer", "die_with_parent", "free_port", "redis_server", "require_binary"]

_START_DEADLINE = 30.0


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """preexec_fn: on Linux, the child gets SIGKILL when the test run dies, leaving no server."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def require_binary(name: str) -> str:
    """The path of executable `name`; skip the test without it (fail when CI=true)."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} not found on PATH"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: it is required)")
        pytest.skip(f"{reason}; install it to run these tests")
    return path


class RedisServer:
    """One redis-server process; `start()` and `stop()` may be repeated, the port stays."""

    def __init__(self, workdir: Path, *, binary: str = "redis-server", port: int | None = None):
        self.workdir = workdir
        self.binary = binary
        self.port = port or free_port()
        self.log_path = workdir / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._started = False
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server (again, on the same port) and wait until it answers PING."""
        if self.running:
            return
        first_start = not self._started
        self._started = True
        self._process = self._spawn()
        deadline = time.monotonic() + _START_DEADLINE
        while not self.ping():
            if self._process.poll() is not None:
                if first_start and "Address already in use" in self.log_tail():
                    # Another process took the free port in between: take another, once.
                    self.port = free_port()
                    self._process = self._spawn()
                    first_start = False
                    continue
                raise RuntimeError(
                    f"redis-server on port {self.port} exited with {self._process.returncode}:\n"
                    + self.log_tail()
                )
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"redis-server on port {self.port} did not answer within "
                    f"{_START_DEADLINE:.0f} s:\n" + self.log_tail()
                )
            time.sleep(0.02)

    def _spawn(self) -> subprocess.Popen[bytes]:
        argv = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--daemonize", "no",
            "--logfile", str(self.log_path),
        ]  # fmt: skip
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Shut down as an operator would (SIGTERM: the append-only file is flushed)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Die at once (SIGKILL); with appendfsync always nothing acknowledged is lost."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def ping(self) -> bool:
        """True when the server answers PING now (raw RESP, no client library needed)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no redis log)"
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running RedisServer of its own for one test; stopped and removed afterwards."""
    binary = require_binary("redis-server")
    with RedisServer(tmp_path / "redis", binary=binary) as server:
        yield server
