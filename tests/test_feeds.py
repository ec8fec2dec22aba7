"""Feed ingestion against the real-world corpus, fetched from a real HTTP server.

The corpus (../shared/corpus/feeds) and its MANIFEST.tsv are the golden data: every file is
fetched from `feed_server` and parsed, and the article counts are the manifest's except
where a comment in EXPECTED_ARTICLES says why they differ.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import shared_dir
from tests.support import feedserver
from tests.support.feedserver import FeedServer
from worker.errors import PermanentError, TransientError
from worker.models import Article
from worker.sources.feeds import (
    USER_AGENT,
    ParsedFeed,
    backoff_seconds,
    fetch_feed,
    make_client,
    parse_feed,
)

feed_server = feedserver.feed_server  # the fixture, used by name

FETCHED_AT = datetime(2026, 3, 2, 10, 30, 0, tzinfo=UTC)
FETCHED_AT_ISO = "2026-03-02T10:30:00Z"
ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

# Where the article count differs from MANIFEST's item count (which is feedparser's entry
# count on the raw bytes), and why.
EXPECTED_ARTICLES = {
    # Each real <item> holds an illegally nested, empty <item />; feedparser reports 20
    # entries, 10 of them empty. Those are skipped (with a reason), leaving 10 articles.
    "rss2-pcmag-dvorak-en.xml": 10,
    # The manifest counts the raw gzip bytes (0 items); parse_feed inflates a gzip body that
    # came without Content-Encoding, so the 10 items of the plain file come out.
    "rss2-orenburg-news-ru-cp1251.xml.gz": 10,
}
# Whether parse_feed records an error: where feedparser reported bozo=1 or json.loads failed
# (MANIFEST notes), except for these.
EXPECTED_ERROR = {
    # Inflated before parsing, the document is the well-formed Orenburg feed.
    "rss2-orenburg-news-ru-cp1251.xml.gz": False,
}
# Classed "broken" yet well-formed to feedparser, which finds the <feed> inside the XHTML
# wrapper and reports nothing (MANIFEST: bozo=0). No error is invented for it.
BROKEN_WITHOUT_ERROR = {"atom-wrapped-in-xhtml-doctype-en.xml"}


def _manifest() -> list[dict[str, str]]:
    path = shared_dir() / "corpus" / "feeds" / "MANIFEST.tsv"
    if not path.is_file():
        return []  # test_manifest_lists_the_corpus fails through the corpus_dir fixture
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


MANIFEST = _manifest()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(timeout=5.0, connect_timeout=5.0) as c:
        yield c


def _fetch_and_parse(
    server: FeedServer, client: httpx.Client, name: str, *, source: str | None = None
) -> ParsedFeed:
    result = fetch_feed(client, server.url(name))
    assert result.content is not None
    return parse_feed(
        result.content,
        base_url=result.final_url,
        fetched_at=FETCHED_AT,
        source=source,
        content_type=result.content_type,
    )


def _parse_file(corpus_dir: Path, name: str, *, language: str | None = None) -> ParsedFeed:
    return parse_feed(
        (corpus_dir / name).read_bytes(),
        base_url=f"https://feeds.example/{name}",
        fetched_at=FETCHED_AT,
        language=language,
    )


def _article(corpus_dir: Path, name: str, index: int = 0) -> Article:
    return _parse_file(corpus_dir, name).articles[index]


# --- the corpus ----------------------------------------------------------------------------


def test_manifest_lists_the_corpus(corpus_dir: Path) -> None:
    files = {p.name for p in corpus_dir.iterdir() if p.name != "MANIFEST.tsv"}
    assert files
    assert {row["file"] for row in MANIFEST} == files


@pytest.mark.parametrize("row", MANIFEST, ids=[row["file"] for row in MANIFEST])
def test_every_corpus_file_is_fetched_and_parsed(
    row: dict[str, str], feed_server: FeedServer, client: httpx.Client
) -> None:
    name = row["file"]
    parsed = _fetch_and_parse(feed_server, client, name, source="corpus")

    assert len(parsed.articles) == EXPECTED_ARTICLES.get(name, int(row["items"]))
    manifest_error = "bozo=1" in row["notes"] or "json error" in row["notes"]
    assert (parsed.error is not None) == EXPECTED_ERROR.get(name, manifest_error)
    if row["format"] == "broken" and name not in BROKEN_WITHOUT_ERROR | EXPECTED_ERROR.keys():
        assert parsed.error
    if parsed.error:
        assert "\n" not in parsed.error
    for article in parsed.articles:
        assert ISO_UTC.fullmatch(article.published or "")
        assert article.source == "corpus"
        assert article.url is None or article.url.startswith(("http://", "https://"))
        assert article.title or article.body or article.url
        assert article.lede is None


def test_skipped_entries_say_why(corpus_dir: Path) -> None:
    parsed = parse_feed(
        (corpus_dir / "rss2-pcmag-dvorak-en.xml").read_bytes(),
        base_url="https://feeds.example/dvorak",
        fetched_at=FETCHED_AT,
    )
    assert parsed.skipped == [f"entry {n}: no title, text or link" for n in range(2, 21, 2)]


def test_scripting_news_items_without_title_keep_their_text(corpus_dir: Path) -> None:
    parsed = parse_feed(
        (corpus_dir / "rss2-scriptingnews-en.xml").read_bytes(),
        base_url="http://scripting.com/rss.xml",
        fetched_at=FETCHED_AT,
    )
    untitled = [a for a in parsed.articles if not a.title]
    assert len(untitled) == 39
    assert all(a.body for a in untitled)


# --- text: encodings, HTML, titles ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "feed_title", "first_title"),
    [
        ("rss2-orenburg-news-ru-cp1251.xml", "Новости Оренбурга", "В Бузулуке главные"),
        ("rss2-orenburg-news-ru-cp1251.xml.gz", "Новости Оренбурга", "В Бузулуке главные"),
        ("rss2-kc0011-zh-gb2312.xml", "流通纪念币", "建国35周年纪念，华表，和平鸽"),
        ("rss2-jn-pt-iso8859-1.xml", "Jornal de Notícias", "Mãe de utente é a nova presidente"),
        ("rss1-golem-de-iso8859-1.xml", "Golem.de", "Neue Glasfaserförderung"),
        ("rss2-inovacaotecnologica-pt-iso8859-1.xml", "Inovação", "Revolução nas telas"),
        ("rss091-tjrs-pt-iso8859-1.xml", "Tribunal de Justiça", "Comitê completa 150 dias"),
        # windows-1252 bytes without a declaration (feedparser guesses after UTF-8 fails)
        ("rss-uol-noticias-pt-cp1252-nodecl.xml", "UOL Noticias", "em simulações de 2º turno"),
        # the prolog says ISO-8859-1 but the bytes are UTF-8
        ("rss1-laut-de-news-de-encoding-mismatch.xml", "laut.de", "Angelika Express"),
        ("rss2-spiegel-schlagzeilen-de.xml", "SPIEGEL", "Tuchel zum HSV? Aber natürlich!"),
    ],
)
def test_encodings_give_correct_text(
    name: str, feed_title: str, first_title: str, feed_server: FeedServer, client: httpx.Client
) -> None:
    parsed = _fetch_and_parse(feed_server, client, name)
    assert parsed.title and feed_title in parsed.title
    assert first_title in parsed.articles[0].title
    text = " ".join(a.title + a.body for a in parsed.articles)
    assert "Ã" not in text and "\ufffd" not in text  # no mojibake, no replacement characters


def test_utf8_labelled_latin1_is_read_as_utf8(corpus_dir: Path) -> None:
    """laut.de declares ISO-8859-1; read that way its umlauts would become "Ã¶"."""
    parsed = parse_feed(
        (corpus_dir / "rss1-laut-de-news-de-encoding-mismatch.xml").read_bytes(),
        base_url="http://www.laut.de/partner/allgemein/news.rdf",
        fetched_at=FETCHED_AT,
        content_type="text/xml; charset=ISO-8859-1",
    )
    assert parsed.articles[1].title == "Michael Jackson: Video der letzten Probe veröffentlicht"


def test_http_charset_is_honoured(corpus_dir: Path) -> None:
    # The Orenburg prolog says windows-1251; a server saying the same in its header agrees,
    # and a server saying nothing leaves it to the prolog (RFC 7303, not RFC 3023's ASCII).
    data = (corpus_dir / "rss2-orenburg-news-ru-cp1251.xml").read_bytes()
    for content_type in ("text/xml; charset=windows-1251", "text/xml", None):
        parsed = parse_feed(
            data, base_url="http://x/", fetched_at=FETCHED_AT, content_type=content_type
        )
        assert parsed.articles[1].title == "ЧОПовцы в Оренбурге избили молодого человека"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("rss2-orenburg-news-ru-cp1251.xml", "text/xml"),  # RFC 3023 would say US-ASCII
        ("rss2-guardian-en.xml", "text/html; charset=utf-8"),  # a careless server
        ("rss2-guardian-en.xml", None),
    ],
)
def test_content_type_does_not_make_a_good_feed_an_error(
    corpus_dir: Path, name: str, content_type: str | None
) -> None:
    parsed = parse_feed(
        (corpus_dir / name).read_bytes(),
        base_url="http://x/",
        fetched_at=FETCHED_AT,
        content_type=content_type,
    )
    assert parsed.error is None and parsed.articles


def test_html_becomes_clean_text(corpus_dir: Path) -> None:
    reddit = _article(corpus_dir, "rss2-reddit-frontpage-en.xml")
    assert reddit.body == "submitted by cakebeerandmorebeer to funny\n[link] [275 comments]"
    tpm = _article(corpus_dir, "atom-talkingpointsmemo-news-en.xml")
    assert tpm.body.startswith("Fox News star host Sean Hannity on Wednesday announced")
    assert "“Joining us now is Dr. Sebastian Gorka,” Hannity said on his radio show." in tpm.body
    assert "\n\n" in tpm.body and "<" not in tpm.body and "  " not in tpm.body


def test_feedburner_links_give_way_to_the_original(corpus_dir: Path) -> None:
    article = _article(corpus_dir, "atom-feedburner-google-ads-blog-en.xml")
    assert article.url == (
        "http://googleadsdeveloper.blogspot.com/2016/06/adwords-and-dfp-java-client-library.html"
    )


def test_google_alerts_titles_lose_markup_and_links_lose_the_redirect(corpus_dir: Path) -> None:
    article = _article(corpus_dir, "atom-google-alerts-en.xml", 1)
    assert article.title == "Slack Stock Has a Compelling Story and the Numbers to Back It Up"
    assert article.url == "https://investorplace.com/2019/07/slack-stock-truly-compelling/"


def test_json_feed(corpus_dir: Path) -> None:
    data = (corpus_dir / "jsonfeed-v1.1-influxdata-html-entity-en.json").read_bytes()
    parsed = parse_feed(
        data, base_url="https://www.influxdata.com/feed/json", fetched_at=FETCHED_AT
    )
    assert parsed.version == "json11"
    assert parsed.title == "Blog – InfluxData"  # "&#8211;" in the JSON string
    first, second, fake = parsed.articles
    assert first.title == "InfluxDB vs. Graphite for Time Series Data & Metrics Benchmark"
    assert first.published == "2019-05-31T19:17:58Z"  # an RFC 822 date, against the spec
    assert (first.language, second.language) == ("en-US", "en-AU")
    assert fake.published == FETCHED_AT_ISO and fake.body == ""

    escaped = _article(corpus_dir, "jsonfeed-v1.1-escaped-slashes-en.json")
    assert escaped.url is not None and "\\" not in escaped.url
    daring = parse_feed(
        (corpus_dir / "jsonfeed-v1-daringfireball-en.json").read_bytes(),
        base_url="https://daringfireball.net/feeds/json",
        fetched_at=FETCHED_AT,
    )
    assert daring.version == "json1" and daring.title == "Daring Fireball"


def test_json_feed_bad_items_are_skipped() -> None:
    items = [
        1,
        {
            "title": "Kept &amp; sound",
            "url": "/a?utm_x=1",
            "date_published": "2024-01-02T03:04:05+01:00",
        },
        {},
        {"title": "No date", "content_text": "  some\u0000\n\n\n\ntext\u00a0 \t here "},
    ]
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": items}
    data = json.dumps(feed).encode()
    parsed = parse_feed(data, base_url="https://example.com/feed.json", fetched_at=FETCHED_AT)
    kept, undated = parsed.articles
    assert (kept.title, kept.url) == ("Kept & sound", "https://example.com/a")
    assert kept.published == "2024-01-02T02:04:05Z"
    assert (undated.url, undated.published) == (None, FETCHED_AT_ISO)
    assert undated.body == "some\n\ntext here"  # no NUL: PostgreSQL text cannot hold it
    assert parsed.skipped == [
        "item 1: ValueError: not an object but int",
        "item 3: no title, text or link",
    ]
    assert parsed.error is None


def test_json_that_is_not_a_feed_is_an_error() -> None:
    parsed = parse_feed(b'{"error": "rate limited"}', base_url="https://x/", fetched_at=FETCHED_AT)
    assert (parsed.articles, parsed.error) == ([], "not a JSON Feed: no 'items' list")


# --- links, dates, languages ---------------------------------------------------------------


def test_relative_links_are_resolved_against_the_feed_url(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    parsed = _fetch_and_parse(feed_server, client, "rss2-neverwinter-relative-links-en.xml")
    assert [a.url for a in parsed.articles] == [
        feed_server.url(
            "/en/games/neverwinter/news/detail/10743874-neverwinter-%26-jingle-jam-humble-bundle%21"
        ),
        feed_server.url(
            "/en/games/neverwinter/news/detail/10738994-2x-underdark-currency-%26-15%25-off-bags%21"
        ),
    ]
    # TPM's Atom links are relative too, with no xml:base.
    tpm = _fetch_and_parse(feed_server, client, "atom-talkingpointsmemo-news-en.xml")
    assert tpm.articles[0].url == feed_server.url(
        "/livewire/hannity-announces-fox-hired-sebastian-gorka-national-security-strategist"
    )


def test_links_are_canonical(corpus_dir: Path) -> None:
    # "?bar=2&foo=1" is the link with an unescaped "&" that breaks the strict parser.
    saxerror = _parse_file(corpus_dir, "broken-rss2-saxerror-en.xml")
    assert [a.url for a in saxerror.articles] == [
        "http://example.com/good",
        "http://example.com/bad?bar=2&foo=1",
        "http://example.com/after",
    ]
    feed = (
        b'<rss version="2.0"><channel><title>t</title><item><title>a</title>'
        b"<link>HTTPS://Example.com:443/x?utm_source=rss&amp;id=1#c</link></item>"
        b"<item><title>b</title><link>javascript:alert(1)</link></item></channel></rss>"
    )
    parsed = parse_feed(feed, base_url="https://example.com/rss", fetched_at=FETCHED_AT)
    assert [a.url for a in parsed.articles] == ["https://example.com/x?id=1", None]


@pytest.mark.parametrize(
    ("name", "index", "published"),
    [
        ("atom-talkingpointsmemo-news-en.xml", 0, "2017-11-08T23:15:58Z"),  # -05:00
        # "Thu, 07 Dec 17 10:00:29 -0800": a two-digit year
        ("rss2-neverwinter-relative-links-en.xml", 0, "2017-12-07T18:00:29Z"),
        ("rss2-rtv-tvtipps-de.xml", 0, "2015-03-31T15:36:18Z"),  # "Tue, 31 Mar 15 17:36:18 +0200"
        ("rss2-medscape-headlines-en.xml", 0, "2025-11-05T18:52:10Z"),  # "...  EST" (double space)
        ("rss-uol-noticias-pt-cp1252-nodecl.xml", 0, "2018-09-24T22:42:40Z"),  # "Seg, 24 Set 2018"
        ("rss2-ilmessaggero-it-no-xmldecl.xml", 0, "2022-11-15T23:38:15Z"),  # "mer, 16 nov 2022"
        ("rss2-kc0011-zh-gb2312.xml", 0, "2020-01-10T14:33:00Z"),  # "2020/1/10 14:33:00"
        ("broken-rss2-missing-close-tag-en.xml", 0, "2017-10-16T15:10:00Z"),  # pubDate wins
        ("jsonfeed-v1-inessential-en.json", 0, "2017-06-03T05:05:47Z"),  # -07:00
    ],
)
def test_dates_are_utc(corpus_dir: Path, name: str, index: int, published: str) -> None:
    assert _article(corpus_dir, name, index).published == published


def test_unix_time_in_dc_date() -> None:
    # feedparser reads "1518478934" as 2015-07-03.
    feed = (
        b'<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><item>'
        b"<title>t</title><dc:date>1518478934</dc:date></item></channel></rss>"
    )
    parsed = parse_feed(feed, base_url="http://x/", fetched_at=FETCHED_AT)
    assert parsed.articles[0].published == "2018-02-12T23:42:14Z"


def test_undated_entries_get_the_fetch_time(corpus_dir: Path) -> None:
    fetched_at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    parsed = parse_feed(
        (corpus_dir / "broken-rss2-saxerror-en.xml").read_bytes(),
        base_url="http://example.com/feed",
        fetched_at=fetched_at,
    )
    assert [a.published for a in parsed.articles] == ["2030-01-02T01:04:05Z"] * 3
    naive = datetime(2030, 1, 2, 3, 4, 5)  # naive means UTC
    parsed = parse_feed(
        (corpus_dir / "rss091-tjrs-pt-iso8859-1.xml").read_bytes(),
        base_url="http://www.tjrs.jus.br/",
        fetched_at=naive,
    )
    assert parsed.articles[0].published == "2030-01-02T03:04:05Z"


def test_languages_are_normalised_and_hints_fill_gaps(corpus_dir: Path) -> None:
    assert _parse_file(corpus_dir, "rss2-nbc-newyork-en.xml").language == "en-US"  # en_US
    messaggero = _parse_file(corpus_dir, "rss2-ilmessaggero-it-no-xmldecl.xml")
    assert messaggero.articles[0].language == "it-IT"  # IT-it
    guardian = _parse_file(corpus_dir, "rss2-guardian-en.xml", language="de")
    assert guardian.language == "en-GB"  # the feed's own word wins over the hint
    uol = "rss-uol-noticias-pt-cp1252-nodecl.xml"  # empty <language>
    hinted = _parse_file(corpus_dir, uol, language="pt_br")
    assert hinted.language == "pt-BR"
    assert {a.language for a in hinted.articles} == {"pt-BR"}
    assert _parse_file(corpus_dir, uol).articles[0].language is None


# --- gzip and hostile bytes ----------------------------------------------------------------


def test_gzip_body_without_content_encoding_is_inflated(corpus_dir: Path) -> None:
    plain = _parse_file(corpus_dir, "rss2-orenburg-news-ru-cp1251.xml")
    gzipped = _parse_file(corpus_dir, "rss2-orenburg-news-ru-cp1251.xml.gz")
    assert gzipped.articles == plain.articles and len(plain.articles) == 10


def test_gzip_bombs_and_broken_gzip_are_errors() -> None:
    bomb = gzip.compress(b" " * 60_000_000, compresslevel=1)
    parsed = parse_feed(bomb, base_url="http://x/", fetched_at=FETCHED_AT)
    assert parsed.articles == [] and "inflates past" in (parsed.error or "")
    parsed = parse_feed(b"\x1f\x8b\x08garbage", base_url="http://x/", fetched_at=FETCHED_AT)
    assert parsed.articles == [] and "gzip body could not be inflated" in (parsed.error or "")


def test_bytes_that_look_like_a_path_are_not_opened(tmp_path: Path, corpus_dir: Path) -> None:
    # feedparser opens file names and URLs given as bytes; a body is only ever a document.
    feed = tmp_path / "feed.xml"
    feed.write_bytes((corpus_dir / "rss2-bbc-inourtime-en.xml").read_bytes())
    parsed = parse_feed(str(feed).encode(), base_url="http://x/", fetched_at=FETCHED_AT)
    assert parsed.articles == []


# Damaged copies of real feeds reach code paths that random bytes never do.
_FEEDS_TO_DAMAGE = [
    row["file"]
    for row in MANIFEST
    if 0 < int(row["items"]) and row["file"].endswith((".xml", ".json"))
][:12]


@settings(max_examples=150, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=2048),
        st.builds(
            lambda s: s.encode(), st.text(alphabet='<>/?!="&;{}[]:, \nrsitemlkcha', max_size=400)
        ),
    ),
    prefix=st.sampled_from(
        [b"", b"\x1f\x8b", b"\xef\xbb\xbf", b"<rss><channel><item>", b'{"items":[']
    ),
    content_type=st.sampled_from(
        [None, "application/json", "text/xml; charset=bogus", "text/html"]
    ),
)
def test_parse_feed_never_raises_on_any_bytes(
    data: bytes, prefix: bytes, content_type: str | None
) -> None:
    parsed = parse_feed(
        prefix + data, base_url="http://x/", fetched_at=FETCHED_AT, content_type=content_type
    )
    for article in parsed.articles:
        assert isinstance(article.title, str) and isinstance(article.body, str)
        assert ISO_UTC.fullmatch(article.published or "")


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(_FEEDS_TO_DAMAGE or ["none"]),
    cut=st.floats(0, 1),
    flips=st.lists(st.integers(0, 10**6), max_size=8),
)
def test_parse_feed_never_raises_on_damaged_corpus_files(
    name: str, cut: float, flips: list[int]
) -> None:
    path = shared_dir() / "corpus" / "feeds" / name
    if not path.is_file():
        pytest.skip("corpus missing; test_manifest_lists_the_corpus reports it")
    data = bytearray(path.read_bytes()[:20_000])
    for position in flips:
        data[position % len(data)] ^= 0xA5
    parsed = parse_feed(
        bytes(data[: int(len(data) * cut)]), base_url="http://x/", fetched_at=FETCHED_AT
    )
    assert all(ISO_UTC.fullmatch(a.published or "") for a in parsed.articles)


# --- fetching ------------------------------------------------------------------------------


def test_fetch_sends_user_agent_and_returns_validators(
    feed_server: FeedServer, client: httpx.Client, corpus_dir: Path
) -> None:
    result = fetch_feed(client, feed_server.url("rss2-guardian-en.xml"))
    assert result.status == 200 and not result.not_modified
    assert result.content == (corpus_dir / "rss2-guardian-en.xml").read_bytes()
    assert result.etag and result.etag.startswith('"')
    assert result.last_modified and result.last_modified.endswith("GMT")
    assert result.content_type == "application/xml"
    assert (result.final_url, result.redirects, result.permanent_redirect) == (
        feed_server.url("rss2-guardian-en.xml"), [], False,
    )  # fmt: skip
    request = feed_server.requests[-1]
    assert request.headers["User-Agent"] == USER_AGENT and USER_AGENT.startswith("newswatch/")
    assert "If-None-Match" not in request.headers


def test_second_fetch_with_validators_is_not_modified(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    url = feed_server.url("rss2-guardian-en.xml")
    first = fetch_feed(client, url)
    second = fetch_feed(client, url, etag=first.etag, last_modified=first.last_modified)
    assert second.status == 304 and second.not_modified
    assert second.content is None  # nothing to parse
    assert (second.etag, second.last_modified) == (first.etag, first.last_modified)
    assert feed_server.requests[-1].headers["If-None-Match"] == first.etag
    assert feed_server.request_count("rss2-guardian-en.xml") == 2
    assert feed_server.not_modified_count == 1

    by_date = fetch_feed(client, url, last_modified=first.last_modified)
    assert by_date.not_modified
    stale = fetch_feed(client, url, etag='"stale"', last_modified=first.last_modified)
    assert stale.status == 200 and stale.content  # If-None-Match wins over If-Modified-Since
    assert feed_server.not_modified_count == 2


def test_redirects_are_followed_and_recorded(feed_server: FeedServer, client: httpx.Client) -> None:
    feed_server.add_redirect("/old", "/mid", 301)
    feed_server.add_redirect("/mid", "/rss2-bbc-inourtime-en.xml", 302)
    result = fetch_feed(client, feed_server.url("/old"))
    assert result.status == 200 and result.content
    assert result.redirects == [feed_server.url("/old"), feed_server.url("/mid")]
    assert result.final_url == feed_server.url("/rss2-bbc-inourtime-en.xml")
    assert result.permanent_redirect is False  # one hop was temporary

    feed_server.add_redirect("/moved", "/rss2-bbc-inourtime-en.xml", 308)
    moved = fetch_feed(client, feed_server.url("/moved"))
    assert moved.redirects == [feed_server.url("/moved")] and moved.permanent_redirect


def test_redirect_loops_are_permanent(feed_server: FeedServer, client: httpx.Client) -> None:
    feed_server.add_redirect("/a", "/b", 302)
    feed_server.add_redirect("/b", "/a", 302)
    with pytest.raises(PermanentError, match="too many redirects"):
        fetch_feed(client, feed_server.url("/a"))


def test_client_errors_are_permanent(feed_server: FeedServer, client: httpx.Client) -> None:
    url = feed_server.url("/missing.xml")
    with pytest.raises(PermanentError) as info:
        fetch_feed(client, url)
    assert str(info.value) == f"GET {url}: HTTP 404 Not Found"
    feed_server.add_status("/gone", 410)
    with pytest.raises(PermanentError, match="HTTP 410 Gone"):
        fetch_feed(client, feed_server.url("/gone"))


def test_server_errors_and_rate_limits_are_transient(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    feed_server.add_status("/broken", 500)
    with pytest.raises(TransientError, match="HTTP 500 Internal Server Error") as info:
        fetch_feed(client, feed_server.url("/broken"))
    assert info.value.retry_after is None

    feed_server.add_status("/too-slow", 408)  # a 4xx, but "try again"
    with pytest.raises(TransientError, match="HTTP 408 Request Timeout"):
        fetch_feed(client, feed_server.url("/too-slow"))

    feed_server.add_status("/busy", 429, headers={"Retry-After": "120"})
    with pytest.raises(TransientError, match="HTTP 429 Too Many Requests") as info:
        fetch_feed(client, feed_server.url("/busy"))
    assert info.value.retry_after == 120

    later = format_datetime(datetime.now(UTC) + timedelta(seconds=600), usegmt=True)
    feed_server.add_status("/maintenance", 503, headers={"Retry-After": later})
    with pytest.raises(TransientError, match="HTTP 503") as info:
        fetch_feed(client, feed_server.url("/maintenance"))
    assert info.value.retry_after is not None and 590 <= info.value.retry_after <= 600


def test_timeouts_are_transient(feed_server: FeedServer) -> None:
    feed_server.add_slow("/slow", delay=10)
    started = time.monotonic()
    with (
        make_client(timeout=0.2, connect_timeout=0.2) as quick,
        pytest.raises(TransientError, match="timed out"),
    ):
        fetch_feed(quick, feed_server.url("/slow"))
    assert time.monotonic() - started < 3


def test_connection_refused_is_transient(client: httpx.Client) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    with pytest.raises(TransientError, match="ConnectError"):
        fetch_feed(client, f"http://127.0.0.1:{port}/feed.xml")


def test_bad_urls_are_permanent(client: httpx.Client) -> None:
    with pytest.raises(PermanentError):
        fetch_feed(client, "ftp://example.com/feed.xml")


@pytest.mark.parametrize("declare_length", [True, False])
def test_bodies_past_the_cap_are_permanent(
    feed_server: FeedServer, client: httpx.Client, declare_length: bool
) -> None:
    feed_server.add_huge("/huge", 5_000_000, declare_length=declare_length)
    url = feed_server.url("/huge")
    with pytest.raises(PermanentError) as info:
        fetch_feed(client, url, max_bytes=1_000_000)
    assert str(info.value) == f"GET {url}: body larger than 1000000 bytes; gave up"


def test_a_declared_length_past_the_cap_is_not_downloaded(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    # The server claims 5 MB and sends 6 bytes: reading would end in a protocol error
    # (transient); trusting the header ends at once (permanent).
    headers = {"Content-Length": "5000000", "Content-Type": "application/xml"}
    feed_server.add_status("/liar", 200, headers=headers, body=b"<rss/>")
    with pytest.raises(PermanentError, match="body larger than 1000000 bytes"):
        fetch_feed(client, feed_server.url("/liar"), max_bytes=1_000_000)


def test_a_body_exactly_at_the_cap_is_fine(feed_server: FeedServer, client: httpx.Client) -> None:
    feed_server.add_bytes("/exact.xml", b"x" * 1000)
    assert fetch_feed(client, feed_server.url("/exact.xml"), max_bytes=1000).content == b"x" * 1000
    with pytest.raises(PermanentError):
        fetch_feed(client, feed_server.url("/exact.xml"), max_bytes=999)


# --- backoff -------------------------------------------------------------------------------


def test_backoff_doubles_per_failure_up_to_the_cap() -> None:
    assert [backoff_seconds(n, 600) for n in range(5)] == [600, 1200, 2400, 4800, 9600]
    assert backoff_seconds(8, 600) == 86400  # 153600 capped
    assert backoff_seconds(10_000, 600) == 86400  # no overflow
    assert backoff_seconds(3, 60, max_seconds=300) == 300
    assert backoff_seconds(-1, 60) == 60
