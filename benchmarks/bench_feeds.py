"""Feed polling speed: a first poll (200, fetch + parse) against a second one (all 304).

    python benchmarks/bench_feeds.py [--json] [--feeds 1000] [--workers 8]

The files of ../shared/corpus/feeds (read from there, never copied) are cycled over
`--feeds` URLs and served from 127.0.0.1 by tests/support/feedserver.py's FeedServer,
which gives each an ETag and a Last-Modified and answers 304 to a matching conditional GET.
The server runs in its own process, so the client's threads do not share a GIL with it.

The client is what a worker does per feed, on a small thread pool sharing one httpx client
(`worker.sources.feeds.make_client`):
- first poll: `fetch_feed` without validators (every answer a 200), then `parse_feed`;
- second poll: `fetch_feed` with the ETag and Last-Modified of the first (every answer a
  304, so nothing is parsed).
It reports feeds per second for each poll and their ratio (target: the second poll at least
5x faster). Bounded: `--feeds` at most 20,000, 10-second request timeouts, and a deadline
(`--deadline`, default 300 s) after which the remaining feeds are skipped and counted.
Exits 1 when a poll did not get the statuses it should (all 200, then all 304).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from worker.errors import NewswatchError  # noqa: E402
from worker.sources.feeds import fetch_feed, make_client, parse_feed  # noqa: E402

MAX_FEEDS = 20_000
_CONTENT_TYPES = {".xml": "application/xml", ".json": "application/feed+json"}


def shared_dir() -> Path:
    return Path(os.environ.get("NEWSWATCH_SHARED_DIR", ROOT.parent / "shared"))


def corpus_files() -> list[Path]:
    folder = shared_dir() / "corpus" / "feeds"
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != "MANIFEST.tsv")
    if not files:
        raise SystemExit(f"no feed files in {folder}")
    return files


def feed_path(i: int, file: Path) -> str:
    return f"/feeds/{i:05d}/{file.name}"


def _content_type(file: Path) -> str:
    suffixes = [s for s in file.suffixes if s != ".gz"]
    return _CONTENT_TYPES.get(suffixes[-1] if suffixes else "", "application/octet-stream")


# --- the server, in a child process -------------------------------------------------------


def _serve(n_feeds: int, conn: Connection) -> None:
    """Serve `n_feeds` URLs cycling over the corpus; send the port, stop when told."""
    from tests.support.feedserver import FeedServer

    files = corpus_files()
    bodies = {f: f.read_bytes() for f in files}  # one copy of each file, shared by its URLs
    with FeedServer() as server:
        for i in range(n_feeds):
            file = files[i % len(files)]
            server.add_bytes(feed_path(i, file), bodies[file], _content_type(file))
        conn.send(server.port)
        conn.poll(None)  # any message, or the parent's end closing, stops the server
        statuses = Counter(r.status for r in server.requests)
        conn.send({str(k): v for k, v in sorted(statuses.items())})


# --- the client -----------------------------------------------------------------------------


@dataclass
class PollResult:
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    skipped: int = 0
    bytes: int = 0
    articles: int = 0
    bozo: int = 0
    fetch_seconds: float = 0.0  # summed over threads
    parse_seconds: float = 0.0  # summed over threads

    def rate(self, n: int) -> float:
        return n / self.seconds if self.seconds else 0.0


@dataclass
class Validators:
    etag: str | None = None
    last_modified: str | None = None


def poll(
    client: httpx.Client,
    urls: list[str],
    validators: dict[str, Validators] | None,
    *,
    workers: int,
    deadline: float,
) -> tuple[PollResult, dict[str, Validators]]:
    """One poll of every URL on `workers` threads; with `validators`, conditional GETs."""
    result = PollResult()
    seen: dict[str, Validators] = {}
    lock = threading.Lock()  # `+=` on shared counters is not atomic across threads

    def one(url: str) -> None:
        if time.monotonic() > deadline:
            with lock:
                result.skipped += 1
            return
        stored = (validators or {}).get(url, Validators())
        t0 = time.perf_counter()
        try:
            fetched = fetch_feed(client, url, etag=stored.etag, last_modified=stored.last_modified)
        except NewswatchError as exc:
            with lock:
                result.errors.append(str(exc))
            return
        t1 = time.perf_counter()
        seen[url] = Validators(fetched.etag, fetched.last_modified)
        if fetched.content is None:
            with lock:
                result.statuses[fetched.status] += 1
                result.fetch_seconds += t1 - t0
            return
        parsed = parse_feed(
            fetched.content,
            base_url=fetched.final_url,
            fetched_at=datetime.now(UTC),
            content_type=fetched.content_type,
        )
        t2 = time.perf_counter()
        with lock:
            result.statuses[fetched.status] += 1
            result.fetch_seconds += t1 - t0
            result.parse_seconds += t2 - t1
            result.bytes += len(fetched.content)
            result.articles += len(parsed.articles)
            result.bozo += parsed.error is not None

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll") as pool:
        for _ in pool.map(one, urls):
            pass
    result.seconds = time.perf_counter() - start
    return result, seen


def run(n_feeds: int, workers: int, deadline_seconds: float) -> dict[str, object]:
    files = corpus_files()
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(n_feeds, child), daemon=True)
    server.start()
    try:
        if not parent.poll(60):
            raise SystemExit("feed server did not start within 60 s")
        port = parent.recv()
        urls = [
            f"http://127.0.0.1:{port}{feed_path(i, files[i % len(files)])}" for i in range(n_feeds)
        ]
        deadline = time.monotonic() + deadline_seconds
        with make_client(timeout=10.0, connect_timeout=10.0) as client:
            first, validators = poll(client, urls, None, workers=workers, deadline=deadline)
            second, _ = poll(client, urls, validators, workers=workers, deadline=deadline)
        parent.send("stop")
        server_statuses = parent.recv() if parent.poll(30) else {}
    finally:
        server.join(timeout=30)
        if server.is_alive():
            server.terminate()
            server.join(timeout=5)

    def summary(r: PollResult) -> dict[str, object]:
        return {
            "seconds": round(r.seconds, 3),
            "feeds_per_s": round(r.rate(n_feeds), 1),
            "statuses": {str(k): v for k, v in sorted(r.statuses.items())},
            "errors": len(r.errors),
            "first_errors": r.errors[:3],
            "skipped": r.skipped,
            "bytes": r.bytes,
            "articles": r.articles,
            "feeds_with_parse_error": r.bozo,
            "fetch_thread_seconds": round(r.fetch_seconds, 3),
            "parse_thread_seconds": round(r.parse_seconds, 3),
        }

    return {
        "feeds": n_feeds,
        "corpus_files": len(files),
        "workers": workers,
        "first_poll": summary(first),
        "second_poll": summary(second),
        "second_vs_first": round(second.rate(n_feeds) / first.rate(n_feeds), 2)
        if first.seconds and second.seconds
        else None,
        "target_ratio": 5.0,
        "server_statuses": server_statuses,
        "ok": first.statuses == Counter({200: n_feeds})
        and second.statuses == Counter({304: n_feeds}),
    }


def print_table(result: dict[str, object]) -> None:
    first = result["first_poll"]
    second = result["second_poll"]
    assert isinstance(first, dict) and isinstance(second, dict)
    print(
        f"{result['feeds']} feeds ({result['corpus_files']} corpus files cycled) from "
        f"127.0.0.1, {result['workers']} threads, one httpx client"
    )
    print(
        f"{'poll':<22} {'seconds':>8} {'feeds/s':>9} {'statuses':>14} {'errors':>7} "
        f"{'MB':>7} {'articles':>9}"
    )
    for label, r in (("first (200, parse)", first), ("second (304)", second)):
        statuses = " ".join(f"{k}:{v}" for k, v in r["statuses"].items())
        print(
            f"{label:<22} {r['seconds']:>8} {r['feeds_per_s']:>9} {statuses:>14} "
            f"{r['errors']:>7} {r['bytes'] / 1e6:>7.1f} {r['articles']:>9}"
        )
    busy = first["fetch_thread_seconds"] + first["parse_thread_seconds"]
    if busy:
        print(
            f"first poll thread time: fetch {first['fetch_thread_seconds']} s, "
            f"parse {first['parse_thread_seconds']} s "
            f"({100 * first['parse_thread_seconds'] / busy:.0f}% parsing)"
        )
    print(
        f"second poll vs first: {result['second_vs_first']}x faster "
        f"(target >= {result['target_ratio']}x)"
    )
    if not result["ok"]:
        print("NOT OK: expected every first answer 200 and every second answer 304")
        for r in (first, second):
            for line in r["first_errors"]:
                print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--feeds", type=int, default=1000, help=f"URLs, 1 to {MAX_FEEDS}")
    parser.add_argument("--workers", type=int, default=8, help="threads of the client")
    parser.add_argument(
        "--deadline", type=float, default=300.0, help="seconds for both polls together"
    )
    args = parser.parse_args()
    if not 1 <= args.feeds <= MAX_FEEDS:
        parser.error(f"--feeds must be between 1 and {MAX_FEEDS}")
    if not 1 <= args.workers <= 64:
        parser.error("--workers must be between 1 and 64")

    result = run(args.feeds, args.workers, args.deadline)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
