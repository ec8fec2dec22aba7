"""AppContext: what the pipeline needs, built once per process from Settings.

Nothing connects at import time: the CLI and the Celery worker build a context at start-up
and pass it to pipeline functions. The watchlists are reloaded when their file changes, so
an edited watchlists.yaml takes effect without restarting workers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from worker.classify import Matcher
from worker.settings import Settings
from worker.sources.config import SourcesSpec, load_sources
from worker.sources.feeds import make_client
from worker.store.db import make_engine, make_session_factory
from worker.watchlists.schema import load_watchlists


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime] = _utcnow
    _http: httpx.Client | None = None
    _matcher: tuple[float, Matcher] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        return self.clock()

    @property
    def http(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                self._http = make_client(
                    timeout=self.settings.http_timeout,
                    connect_timeout=self.settings.http_connect_timeout,
                )
            return self._http

    def matcher(self) -> Matcher:
        """The compiled watchlists; recompiled when watchlists.yaml changes on disk."""
        path = self.settings.watchlists_file
        mtime = Path(path).stat().st_mtime if Path(path).exists() else 0.0
        with self._lock:
            if self._matcher is None or self._matcher[0] != mtime:
                self._matcher = (mtime, Matcher(load_watchlists(path)))
            return self._matcher[1]

    def sources(self) -> SourcesSpec:
        return load_sources(self.settings.sources_file)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        self.engine.dispose()


def build_context(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> AppContext:
    engine = make_engine(settings.effective_database_url)
    return AppContext(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        clock=clock or _utcnow,
    )
