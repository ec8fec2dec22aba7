"""Feed ingestion: fetch a feed over HTTP and turn its bytes into Articles.

- `fetch_feed(client, url, ...)` makes one conditional GET and returns a `FetchResult`
  (200 with the body, or 304 with none). It follows and records redirects and caps the
  body size. Failures raise `TransientError` (timeouts, connection errors, 429, 5xx; worth
  retrying, with `retry_after` when the server said so) or `PermanentError` (other 4xx,
  oversized bodies, redirect loops, bad URLs), each with a one-line message.
- `parse_feed(content, ...)` is pure and never raises: RSS 0.9x/1.0/2.0 and Atom through
  feedparser, JSON Feed 1/1.1 with `json` (feedparser 6 does not read JSON Feed). Broken
  input is data: the problem goes to `ParsedFeed.error`, entries that cannot be used go to
  `ParsedFeed.skipped`, and whatever could be recovered is returned.
- `backoff_seconds(...)` is the pure delay before the next attempt after failures.
"""

from __future__ import annotations

import email.utils
import html
import io
import json
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser
import httpx

from worker.errors import PermanentError, TransientError
from worker.models import Article
from worker.sources.feedfields import (
    article_url,
    clean_text,
    clean_title,
    iso_utc,
    normalise_language,
    parse_date,
    struct_time_iso,
)

__all__ = [
    "USER_AGENT",
    "FetchResult",
    "ParsedFeed",
    "backoff_seconds",
    "fetch_feed",
    "make_client",
    "parse_feed",
]

USER_AGENT = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"

_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, application/json;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
_PERMANENT_REDIRECTS = frozenset({301, 308})
# 408 is a 4xx but says "you were too slow this time", which is worth retrying.
_TRANSIENT_STATUSES = frozenset({408, 429})
_GZIP_MAGIC = b"\x1f\x8b"
# A gzip body without Content-Encoding is inflated in parse_feed, outside fetch_feed's size
# cap; this bound keeps a small compressed body from inflating into gigabytes.
_MAX_INFLATED_BYTES = 50_000_000


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One successful GET: status 200 (or another 2xx) with `content`, or 304 without it.

    `redirects` lists, in order, the URLs that answered with a redirect; `final_url` is the
    URL that gave the body (the requested URL when there was no redirect). On 304 the
    validators are the server's if it sent new ones, else those that were sent.
    `permanent_redirect` is True when every hop was a 301/308, so the caller may store
    `final_url` as the feed's URL.
    """

    status: int
    content: bytes | None
    etag: str | None
    last_modified: str | None
    final_url: str
    redirects: list[str] = field(default_factory=list)
    content_type: str | None = None
    permanent_redirect: bool = False

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What could be read from a feed document.

    `error` is one line describing what was wrong with the document (set even when entries
    were recovered); `skipped` has one line per entry that was left out, with the reason.
    `version` is feedparser's ("rss20", "atom10", "rss10", "rss091u", ...) or "json1"/"json11".
    """

    title: str | None
    language: str | None
    articles: list[Article]
    error: str | None = None
    version: str | None = None
    skipped: list[str] = field(default_factory=list)


def make_client(
    timeout: float = 20.0,
    connect_timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx.Client for fetching feeds: newswatch User-Agent, redirects followed (at most
    10), gzip/deflate accepted, `timeout` seconds per read/write/pool wait and
    `connect_timeout` to connect. Pass `transport` to test without a network."""
    return httpx.Client(
        headers={"User-Agent": USER_AGENT},
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        follow_redirects=True,
        max_redirects=10,
        transport=transport,
    )


def fetch_feed(
    client: httpx.Client,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = 10_000_000,
) -> FetchResult:
    """GET `url` with If-None-Match/If-Modified-Since from the stored validators.

    Streams the body and gives up past `max_bytes` (decoded) bytes. Timeouts are the
    client's. Raises TransientError or PermanentError as described in the module docstring.
    """
    headers = {"Accept": _ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    where = f"GET {url}"
    try:
        with client.stream("GET", url, headers=headers, follow_redirects=True) as response:
            redirects = [str(r.url) for r in response.history]
            if redirects:
                where += f" (redirected to {response.url})"
            if response.status_code == 304:
                content = None
            elif 200 <= response.status_code < 300:
                content = _read_capped(response, max_bytes, where)
            else:
                raise _status_error(response, where)
    except httpx.TimeoutException as exc:
        raise TransientError(f"{where}: timed out ({type(exc).__name__})") from exc
    except httpx.TooManyRedirects as exc:
        raise PermanentError(f"{where}: too many redirects") from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise PermanentError(f"{where}: {_one_line(exc)}") from exc
    except httpx.DecodingError as exc:
        raise PermanentError(f"{where}: body could not be decoded: {_one_line(exc)}") from exc
    except httpx.TransportError as exc:
        raise TransientError(f"{where}: {_one_line(exc)}") from exc

    not_modified = response.status_code == 304
    return FetchResult(
        status=response.status_code,
        content=content,
        etag=response.headers.get("ETag") or (etag if not_modified else None),
        last_modified=response.headers.get("Last-Modified")
        or (last_modified if not_modified else None),
        final_url=str(response.url),
        redirects=redirects,
        content_type=response.headers.get("Content-Type"),
        permanent_redirect=bool(redirects)
        and all(r.status_code in _PERMANENT_REDIRECTS for r in response.history),
    )


def _read_capped(response: httpx.Response, max_bytes: int, where: str) -> bytes:
    too_big = PermanentError(f"{where}: body larger than {max_bytes} bytes; gave up")
    declared = response.headers.get("Content-Length", "")
    # The declared length is of the encoded body, so it only proves anything when unencoded.
    if (
        declared.isdigit()
        and int(declared) > max_bytes
        and "Content-Encoding" not in response.headers
    ):
        raise too_big
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def _status_error(response: httpx.Response, where: str) -> Exception:
    status = response.status_code
    message = f"{where}: HTTP {status} {response.reason_phrase}".rstrip()
    if status >= 500 or status in _TRANSIENT_STATUSES:
        return TransientError(
            message, retry_after=_retry_after(response.headers.get("Retry-After"))
        )
    return PermanentError(message)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff_seconds(failure_count: int, interval: float, *, max_seconds: float = 86400) -> float:
    """Delay before the next fetch of a feed that failed `failure_count` times in a row:
    `interval` doubled per failure (`interval` itself after none), never above `max_seconds`."""
    if failure_count <= 0:
        return min(interval, max_seconds)
    # Past 2**64 the cap has long been reached; stopping there avoids float overflow.
    return min(interval * 2.0 ** min(failure_count, 64), max_seconds)


# --- parsing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    base_url: str
    fetched_at: str
    source: str | None
    language: str | None


def parse_feed(
    content: bytes,
    *,
    base_url: str,
    fetched_at: datetime,
    source: str | None = None,
    language: str | None = None,
    content_type: str | None = None,
) -> ParsedFeed:
    """Turn feed bytes into Articles; never raises.

    Each Article has a clean-text `title` ("" when the entry has none) and `body` (the
    entry's content, else its summary, HTML rendered to text), `url` = canonical_url of the
    entry link resolved against `base_url` (None without an http(s) link), `published` as
    "YYYY-MM-DDTHH:MM:SSZ" in UTC (`fetched_at` for undated entries; naive means UTC), and
    `language` = the entry's, else the feed's, else the `language` hint, normalised like
    "en-US". `content_type` is the HTTP Content-Type, of which only the charset counts. JSON
    Feed is recognised by its opening "{". A gzip body (magic number, no Content-Encoding)
    is inflated first.
    """
    hint = normalise_language(language)
    try:
        data, error = _maybe_inflate(bytes(content))
        if error:
            return ParsedFeed(title=None, language=hint, articles=[], error=error)
        ctx = _Context(base_url, iso_utc(fetched_at), source, hint)
        if _looks_like_json(data):
            return _parse_json_feed(data, ctx)
        return _parse_xml_feed(data, ctx, content_type)
    except Exception as exc:  # the contract is "never raises": bad bytes are data
        return ParsedFeed(title=None, language=hint, articles=[], error=_one_line(exc))


def _maybe_inflate(data: bytes) -> tuple[bytes, str | None]:
    if not data.startswith(_GZIP_MAGIC):
        return data, None
    inflater = zlib.decompressobj(wbits=31)
    try:
        inflated = inflater.decompress(data, _MAX_INFLATED_BYTES)
    except zlib.error as exc:
        return b"", f"gzip body could not be inflated: {_one_line(exc)}"
    if inflater.unconsumed_tail:
        return b"", f"gzip body inflates past {_MAX_INFLATED_BYTES} bytes; gave up"
    return inflated, None


_JSON_START = re.compile(rb"\s*(?:\xef\xbb\xbf)?\s*\{")


def _looks_like_json(data: bytes) -> bool:
    # Sniffed, not taken from Content-Type: servers label feeds carelessly, and every JSON
    # Feed opens with "{" while no XML document can.
    return _JSON_START.match(data) is not None


def _parse_xml_feed(data: bytes, ctx: _Context, content_type: str | None) -> ParsedFeed:
    # feedparser opens URLs and file paths given as bytes; BytesIO keeps it to these bytes.
    # Content-Location is the base for xml:base and for links inside content HTML.
    parsed = feedparser.parse(
        io.BytesIO(data),
        response_headers={
            "content-location": ctx.base_url,
            "content-type": _xml_content_type(content_type),
        },
    )
    feed = parsed.get("feed", {})
    feed_language = normalise_language(feed.get("language")) or ctx.language
    articles, skipped = _collect(
        "entry", parsed.get("entries", []), lambda e: _article_from_entry(e, ctx, feed_language)
    )
    bozo = parsed.get("bozo_exception") if parsed.get("bozo") else None
    return ParsedFeed(
        title=clean_title(feed.get("title"), _detail_type(feed.get("title_detail"))) or None,
        language=feed_language,
        articles=articles,
        error=_one_line(bozo) if bozo is not None else None,
        version=parsed.get("version") or None,
        skipped=skipped,
    )


def _xml_content_type(content_type: str | None) -> str:
    """The Content-Type feedparser should see. Always an XML type: without a charset the
    XML prolog decides (RFC 7303), not RFC 3023's US-ASCII for text/xml, and a server's
    text/html does not make feedparser call the feed broken. UTF-8 mislabelled as Latin-1,
    by prolog or header, feedparser repairs element by element."""
    charset = _charset(content_type)
    return f"application/xml; charset={charset}" if charset else "application/xml"


def _charset(content_type: str | None) -> str | None:
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip(" \"'"):
            return value.strip(" \"'").lower()
    return None


def _article_from_entry(
    entry: Mapping[str, Any], ctx: _Context, language: str | None
) -> Article | None:
    title = clean_title(entry.get("title"), _detail_type(entry.get("title_detail")))
    body = ""
    details = [*(entry.get("content") or []), entry.get("summary_detail") or {}]
    for detail in details:
        body = clean_text(detail.get("value"), _detail_type(detail))
        if body:
            break
    link = entry.get("feedburner_origlink") or entry.get("link")
    url = article_url(link, ctx.base_url)
    if not (title or body or url):
        return None
    when = next((t for t in _entry_times(entry) if t is not None), None)
    return Article(
        title=title,
        body=body,
        url=url,
        source=ctx.source,
        published=when or ctx.fetched_at,
        language=normalise_language(entry.get("language")) or language,
    )


def _entry_times(entry: Mapping[str, Any]) -> Iterable[str | None]:
    # Our parse first: feedparser 6 reads "2020/1/10 14:33:00" as 2020-11-01 and gives up on
    # month names that are not English. Its own result covers the exotic formats it knows.
    for key in ("published", "updated", "created"):
        raw, parsed = entry.get(key), entry.get(f"{key}_parsed")
        yield (parse_date(raw) if isinstance(raw, str) else None) or (
            struct_time_iso(parsed) if parsed else None
        )


def _detail_type(detail: Mapping[str, Any] | None) -> str:
    return str((detail or {}).get("type") or "text/plain")


def _parse_json_feed(data: bytes, ctx: _Context) -> ParsedFeed:
    error: str | None = None
    try:
        document = json.loads(data)
    except UnicodeDecodeError as exc:  # JSON Feed is UTF-8; keep what decodes
        error = _one_line(exc)
        document = json.loads(data.decode("utf-8", "replace"))
    except ValueError as exc:
        return ParsedFeed(title=None, language=ctx.language, articles=[], error=_one_line(exc))
    items = document.get("items") if isinstance(document, dict) else None
    if not isinstance(items, list):
        return ParsedFeed(
            title=None, language=ctx.language, articles=[],
            error="not a JSON Feed: no 'items' list",
        )  # fmt: skip
    version_url = str(document.get("version") or "")
    version = "json11" if version_url.endswith("/1.1") else "json1"
    feed_language = normalise_language(_str(document.get("language"))) or ctx.language
    articles, skipped = _collect(
        "item", items, lambda i: _article_from_json_item(i, ctx, feed_language)
    )
    return ParsedFeed(
        title=clean_title(html.unescape(_str(document.get("title")))) or None,
        language=feed_language,
        articles=articles,
        error=error,
        version=version,
        skipped=skipped,
    )


def _article_from_json_item(item: object, ctx: _Context, language: str | None) -> Article | None:
    if not isinstance(item, dict):
        raise ValueError(f"not an object but {type(item).__name__}")
    # Titles are plain text by the spec, but WordPress plugins leave entities like &#8211; in.
    title = clean_title(html.unescape(_str(item.get("title"))))
    body = (
        clean_text(_str(item.get("content_html")), "text/html")
        or clean_text(_str(item.get("content_text")))
        or clean_text(_str(item.get("summary")))
    )
    url = article_url(_str(item.get("url")) or _str(item.get("external_url")), ctx.base_url)
    if not (title or body or url):
        return None
    dates = (_str(item.get(k)) for k in ("date_published", "date_modified"))
    when = next((iso for iso in map(parse_date, dates) if iso), None)
    return Article(
        title=title,
        body=body,
        url=url,
        source=ctx.source,
        published=when or ctx.fetched_at,
        language=normalise_language(_str(item.get("language"))) or language,
    )


def _collect(
    kind: str, entries: Iterable[Any], convert: Callable[[Any], Article | None]
) -> tuple[list[Article], list[str]]:
    """Articles from the entries that convert, and "<kind> <n>: <reason>" for the others."""
    articles: list[Article] = []
    skipped: list[str] = []
    for index, entry in enumerate(entries, start=1):
        try:
            article = convert(entry)
        except Exception as exc:  # one bad entry must not lose the others
            skipped.append(f"{kind} {index}: {_one_line(exc)}")
            continue
        if article is None:
            skipped.append(f"{kind} {index}: no title, text or link")
        else:
            articles.append(article)
    return articles, skipped


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _one_line(problem: object) -> str:
    """An exception as "Type: message" on one line (feedparser's bozo may be any object)."""
    text = " ".join(str(problem).split())
    if isinstance(problem, BaseException):
        return f"{type(problem).__name__}: {text}" if text else type(problem).__name__
    return text
