"""Real Celery worker and beat processes (`newswatch worker`, `newswatch beat`) for tests.

`Pipeline` is one newswatch installation in a temporary folder: a config folder (the real
watchlists.yaml and a sources.yaml whose inbox is a temp folder and whose feeds are given
by the test), a data folder, a database URL and a broker URL. Every process it starts gets
only these settings, through NEWSWATCH_* environment variables, as a deployed worker does:

    pipeline = Pipeline(tmp_path, broker_url=redis.url, database_url=url)
    pipeline.write_sources(feeds=[("corpus", feed_server.url("rss2-guardian-en.xml"))])
    pipeline.migrate()
    worker = pipeline.worker().start().wait_ready()
    pipeline.newswatch("enqueue", "scan")
    wait_for(lambda: ..., "all articles classified", diagnostics=worker.log_tail)

Processes run in their own session, so `kill()` (SIGKILL) takes the pool's children with
the main process, as when a container dies; `stop()` is the warm shutdown (SIGTERM). Logs
go to files under the pipeline's folder. Every wait has a deadline and, when it expires,
fails with what the processes logged. The test fixture `make_pipeline` stops everything.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.redisserver import die_with_parent

__all__ = [
    "DEADLINE",
    "CeleryBeat",
    "CeleryProcess",
    "CeleryWorker",
    "Pipeline",
    "make_pipeline",
    "wait_for",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0  # seconds any single wait may take before the test fails

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T],
    what: str,
    *,
    timeout: float = DEADLINE,
    interval: float = 0.05,
    diagnostics: Callable[[], str] | None = None,
) -> T:
    """Call `probe` until it returns something truthy and return that; fail at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            details = diagnostics() if diagnostics else ""
            pytest.fail(
                f"timed out after {timeout:.0f} s waiting for {what} (last probe: {last!r})"
                + (f"\n{details}" if details else ""),
                pytrace=False,
            )
        time.sleep(interval)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


class CeleryProcess:
    """One long-running `newswatch <command>` subprocess with its log file."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], cwd: Path, log: Path):
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.log_path = log
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> CeleryProcess:
        if self.running:
            return self
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() reaches the pool too
                preexec_fn=die_with_parent,
            )
        return self

    def kill(self) -> None:
        """SIGKILL the process and its children at once: no shutdown, no acknowledgement."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown (SIGTERM, running tasks finish); SIGKILL after `timeout`."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()  # also reaps children left behind in the group

    def restart(self) -> CeleryProcess:
        self.kill()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        return f"--- {self.name} log ({self.log_path}), last {lines} lines:\n" + _tail(
            self.log_path, lines
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class CeleryWorker(CeleryProcess):
    """`newswatch worker`: prefork pool, its own node name, readiness by a real ping."""

    def __init__(self, *args: Any, nodename: str, broker_url: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.nodename = nodename
        self.broker_url = broker_url

    def start(self) -> CeleryWorker:
        super().start()
        return self

    def restart(self) -> CeleryWorker:
        super().restart()
        return self

    def ping(self, timeout: float = 0.5) -> bool:
        """True when the worker answers a remote-control ping through the broker now."""
        from celery import Celery

        client = Celery("newswatch-test-client", broker=self.broker_url, set_as_current=False)
        try:
            replies = client.control.ping(destination=[self.nodename], timeout=timeout)
        except Exception:  # broker down or restarting: not ready
            return False
        finally:
            client.close()
        return any(self.nodename in reply for reply in replies)

    def wait_ready(self, timeout: float = DEADLINE) -> CeleryWorker:
        def ready() -> bool:
            if not self.running:
                pytest.fail(f"{self.name} exited before it was ready\n{self.log_tail()}")
            return self.ping()

        wait_for(ready, f"{self.name} to answer a ping", timeout=timeout, interval=0.1,
                 diagnostics=self.log_tail)  # fmt: skip
        return self


class CeleryBeat(CeleryProcess):
    def start(self) -> CeleryBeat:
        super().start()
        return self


class Pipeline:
    """A newswatch installation in `root`, and the processes started against it."""

    def __init__(
        self,
        root: Path,
        *,
        broker_url: str,
        database_url: str | None = None,
        settings: dict[str, str] | None = None,
    ):
        self.root = root
        self.broker_url = broker_url
        self.config_dir = root / "config"
        self.data_dir = root / "data"
        self.inbox_dir = root / "inbox"
        self.log_dir = root / "logs"
        for folder in (self.config_dir, self.data_dir, self.inbox_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url or f"sqlite:///{self.data_dir / 'newswatch.db'}"
        self.settings = dict(settings or {})
        self.processes: list[CeleryProcess] = []
        shutil.copy(REPO_ROOT / "config" / "watchlists.yaml", self.config_dir / "watchlists.yaml")
        self.write_sources()

    # --- configuration -------------------------------------------------------------------

    def write_sources(self, feeds: Sequence[tuple[str, str]] = (), interval: str = "1h") -> None:
        """sources.yaml: the inbox folder, and `feeds` as (name, url) polled every `interval`."""
        lines = [
            "version: 1",
            "inbox:",
            f"  - path: {self.inbox_dir}",
            '    pattern: "*.txt"',
            "feeds:" + ("" if feeds else " []"),
        ]
        for name, url in feeds:
            lines += [f"  - name: {name}", f"    url: {url}", f"    interval: {interval}"]
        (self.config_dir / "sources.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment of every process: the caller's minus NEWSWATCH_*, plus ours."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
        env.update(
            NEWSWATCH_BROKER_URL=self.broker_url,
            NEWSWATCH_DATABASE_URL=self.database_url,
            NEWSWATCH_CONFIG_DIR=str(self.config_dir),
            NEWSWATCH_DATA_DIR=str(self.data_dir),
            NEWSWATCH_LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        )
        env.update(self.settings)
        env.update(overrides)
        return env

    # --- one-off commands ----------------------------------------------------------------

    def newswatch(self, *args: str, check: bool = True, timeout: float = DEADLINE) -> str:
        """Run `newswatch <args>` against this installation; return its standard output."""
        argv = [sys.executable, "-m", "worker.cli", *args]
        done = subprocess.run(
            argv, cwd=self.root, env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            pytest.fail(
                f"`newswatch {' '.join(args)}` exited with {done.returncode}\n"
                f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}",
                pytrace=False,
            )
        return done.stdout

    def migrate(self) -> None:
        self.newswatch("migrate")

    def articles(self) -> list[dict[str, Any]]:
        """`newswatch articles --json`, parsed."""
        import json

        out = self.newswatch("articles", "--json")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    # --- long-running processes ------------------------------------------------------------

    def worker(self, name: str = "worker", *, concurrency: int = 2) -> CeleryWorker:
        nodename = f"{name}-{os.getpid()}@127.0.0.1"
        argv = [
            sys.executable, "-m", "worker.cli", "worker",
            "--pool", "prefork",
            "--concurrency", str(concurrency),
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-Q", "celery",
            "-n", nodename,
        ]  # fmt: skip
        process = CeleryWorker(
            name,
            argv,
            self.env(),
            self.root,
            self.log_dir / f"{name}.log",
            nodename=nodename,
            broker_url=self.broker_url,
        )
        self.processes.append(process)
        return process

    def beat(self, name: str = "beat") -> CeleryBeat:
        argv = [
            sys.executable, "-m", "worker.cli", "beat",
            "--schedule", str(self.data_dir / "celerybeat-schedule"),
            "--max-interval", "1",
        ]  # fmt: skip
        process = CeleryBeat(name, argv, self.env(), self.root, self.log_dir / f"{name}.log")
        self.processes.append(process)
        return process

    def log_tails(self, lines: int = 40) -> str:
        return "\n".join(p.log_tail(lines) for p in self.processes)

    def kill_all(self) -> None:
        for process in reversed(self.processes):
            process.kill()


@pytest.fixture
def make_pipeline(tmp_path: Path) -> Iterator[Callable[..., Pipeline]]:
    """Factory of Pipeline installations under tmp_path; their processes stop afterwards."""
    made: list[Pipeline] = []

    def make(
        broker_url: str,
        database_url: str | None = None,
        *,
        name: str = "pipeline",
        **settings: str,
    ) -> Pipeline:
        pipeline = Pipeline(
            tmp_path / name,
            broker_url=broker_url,
            database_url=database_url,
            settings={f"NEWSWATCH_{k.upper()}": str(v) for k, v in settings.items()},
        )
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.kill_all()  # nothing left to finish gracefully
