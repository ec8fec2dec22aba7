"""A real HTTP server on 127.0.0.1 for feed-fetching tests (standard library only).

`FeedServer(root)` serves the files of `root` (and any bytes added with `add_bytes`) with
an ETag and a Last-Modified header, answers 304 to a matching If-None-Match (or, without
one, If-Modified-Since), and records every request. Extra routes stand in for the web's
misbehaviour: redirect chains, error statuses with headers (429 + Retry-After), slow
answers (for timeouts) and huge bodies (for size caps). Tests import the `feed_server`
fixture, which serves the feed corpus.
"""

from __future__ import annotations

import email.utils
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

import pytest

__all__ = ["FeedServer", "RecordedRequest", "feed_server"]

_CHUNK = 64 * 1024
# Files are served as a careless server would: an XML or JSON type and no charset, so the
# document itself has to say how it is encoded. A .gz file keeps its inner type and gets
# no Content-Encoding, like a pre-compressed file served raw.
_CONTENT_TYPES = {".xml": "application/xml", ".json": "application/feed+json"}


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class _Route:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    filler_size: int | None = None  # stream this many filler bytes instead of `body`
    declare_length: bool = True
    conditional: bool = False  # serve with ETag/Last-Modified and answer 304s


class FeedServer:
    """A threaded HTTP server on a free port of 127.0.0.1; use as a context manager."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root
        self.requests: list[RecordedRequest] = []
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.feed_server = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    # --- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()  # wakes slow handlers so shutdown does not wait for them
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    # --- routes --------------------------------------------------------------------------

    def add_bytes(self, path: str, body: bytes, content_type: str = "application/xml") -> None:
        """Serve `body` at `path` like a file (ETag, Last-Modified, 304s)."""
        self._add(path, _Route(body=body, headers={"Content-Type": content_type}, conditional=True))

    def add_redirect(self, path: str, location: str, status: int = 301) -> None:
        self._add(path, _Route(status=status, headers={"Location": location}))

    def add_status(
        self, path: str, status: int, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> None:
        """Answer `status` with `headers` (a Content-Length given here is sent as is)."""
        self._add(path, _Route(status=status, headers=dict(headers or {}), body=body))

    def add_slow(self, path: str, delay: float, body: bytes = b"<rss/>") -> None:
        """Answer only after `delay` seconds (or when the server stops)."""
        self._add(path, _Route(body=body, delay=delay, headers={"Content-Type": "application/xml"}))

    def add_huge(self, path: str, size: int, *, declare_length: bool = True) -> None:
        """Stream `size` bytes, with or without a Content-Length header."""
        route = _Route(
            filler_size=size, declare_length=declare_length,
            headers={"Content-Type": "application/xml"},
        )  # fmt: skip
        self._add(path, route)

    def _add(self, path: str, route: _Route) -> None:
        with self._lock:
            self._routes["/" + path.lstrip("/")] = route

    # --- what happened -------------------------------------------------------------------

    def request_count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == "/" + path.lstrip("/"))

    @property
    def not_modified_count(self) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.status == 304)

    # --- used by the handler -------------------------------------------------------------

    def _route_for(self, path: str) -> _Route | None:
        with self._lock:
            route = self._routes.get(path)
        if route is not None or self.root is None:
            return route
        name = unquote(path).lstrip("/")
        file = self.root / name
        if "/" in name or name.startswith(".") or not file.is_file():
            return None
        suffixes = [s for s in file.suffixes if s != ".gz"]
        content_type = _CONTENT_TYPES.get(
            suffixes[-1] if suffixes else "", "application/octet-stream"
        )
        return _Route(
            body=file.read_bytes(),
            headers={
                "Content-Type": content_type,
                "Last-Modified": email.utils.formatdate(file.stat().st_mtime, usegmt=True),
            },
            conditional=True,
        )

    def _record(self, path: str, headers: dict[str, str], status: int) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(path, headers, status))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    feed_server: FeedServer

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hang up on purpose in these tests (timeouts, size caps); that is no error.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest output for the tests

    def do_GET(self) -> None:
        feeds = self.server.feed_server
        path = urlsplit(self.path).path
        headers = {k: v for k, v in self.headers.items()}
        route = feeds._route_for(path)
        if route is None:
            route = _Route(status=404, body=b"not found", headers={"Content-Type": "text/plain"})
        if route.delay and feeds._stopping.wait(route.delay):
            return
        status, out_headers, body = route.status, dict(route.headers), route.body
        if route.conditional:
            out_headers["ETag"] = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            out_headers.setdefault("Last-Modified", "Mon, 02 Mar 2026 10:00:00 GMT")
            if _not_modified(self.headers, out_headers["ETag"], out_headers["Last-Modified"]):
                status, body = 304, b""
        feeds._record(path, headers, status)
        self.send_response(status)
        for name, value in out_headers.items():
            self.send_header(name, value)
        size = route.filler_size if route.filler_size is not None else len(body)
        if route.declare_length and status != 304 and "Content-Length" not in out_headers:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        if route.filler_size is not None:
            self._stream_filler(route.filler_size)
        elif status != 304:
            self.wfile.write(body)

    def _stream_filler(self, size: int) -> None:
        chunk = b" " * _CHUNK
        sent = 0
        try:
            while sent < size:
                part = chunk[: min(_CHUNK, size - sent)]
                self.wfile.write(part)
                sent += len(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should past its size cap


def _not_modified(request_headers: Message, etag: str, last_modified: str) -> bool:
    """RFC 9110 13.2.2: If-None-Match wins; If-Modified-Since only counts without it."""
    if_none_match = request_headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if_modified_since = request_headers.get("If-Modified-Since")
    if if_modified_since is None:
        return False
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since)
        modified = email.utils.parsedate_to_datetime(last_modified)
    except (TypeError, ValueError):
        return False
    return modified <= since


@pytest.fixture
def feed_server(corpus_dir: Path) -> Iterator[FeedServer]:
    """A FeedServer serving the feed corpus; stopped after the test."""
    with FeedServer(corpus_dir) as server:
        yield server
