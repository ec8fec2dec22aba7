"""Digests: grouping, ranking, folding copies, snippets, rendering and template checks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from worker.deliver.alert import alert_key, alert_payload, build_alert, render_alert
from worker.deliver.digest import (
    DigestEntry,
    build_digest,
    display_date,
    render_digest,
    snippet,
)
from worker.deliver.sample import (
    sample_digest,
    sample_entries,
    sample_period,
    sample_subscription,
    sample_watchlist_names,
)
from worker.deliver.schedule import latest_period
from worker.deliver.subscriptions import Subscription
from worker.deliver.templates import check_templates, make_template_env
from worker.errors import ConfigError
from worker.models import Highlight

UNSUBSCRIBE = "https://news.example.org/unsubscribe?token=abc.def"


def hl(body: str, word: str, term: str | None = None, nth: int = 0) -> Highlight:
    starts = [m.start() for m in re.finditer(re.escape(word), body)]
    start = starts[nth]
    return Highlight("body", start, start + len(word), word, term or word)


def entry(wid: str, title: str, score: float, body: str = "", **kw: object) -> DigestEntry:
    values: dict[str, object] = {
        "watchlist_id": wid,
        "watchlist_name": wid.title(),
        "title": title,
        "url": f"https://example.org/{title.lower().replace(' ', '-')}",
        "source": "Example News",
        "published": "2026-11-18",
        "score": score,
        "highlights": (),
        "body": body or f"{title}. " * 3,
    }
    values.update(kw)
    return DigestEntry(**values)  # type: ignore[arg-type]


def subscription(**kw: object) -> Subscription:
    return replace(sample_subscription(), **kw)  # type: ignore[arg-type]


# --- building ------------------------------------------------------------------------------


def test_sections_follow_the_subscription_and_items_are_ranked_by_score() -> None:
    sub = subscription(watchlists=("b-list", "a-list", "quiet-list"))
    entries = [
        entry("a-list", "Alpha low", 1.5, "alpha low body text here"),
        entry("b-list", "Beta", 2.0, "beta body text here"),
        entry("a-list", "Alpha high", 9.0, "alpha high body text here"),
        entry("a-list", "Alpha mid", 4.0, "alpha mid body text here"),
        entry("not-subscribed", "Elsewhere", 99.0, "elsewhere body"),
    ]
    digest = build_digest(sub, sample_period(), entries)
    assert [s.watchlist_id for s in digest.sections] == ["b-list", "a-list"]
    assert [i.title for i in digest.sections[1].items] == ["Alpha high", "Alpha mid", "Alpha low"]
    assert digest.quiet == ("quiet-list",)
    assert digest.item_count == 4 and not digest.is_empty


def test_equal_scores_put_the_newest_first() -> None:
    entries = [
        entry("eu-expansion", "Older", 3.0, "older body text", published="2026-11-16"),
        entry("eu-expansion", "Newer", 3.0, "newer body text", published="2026-11-20T10:00:00Z"),
        entry("eu-expansion", "Undated", 3.0, "undated body text", published=None),
    ]
    digest = build_digest(subscription(), sample_period(), entries)
    assert [i.title for i in digest.sections[0].items] == ["Newer", "Older", "Undated"]


def test_min_score_and_max_items() -> None:
    entries = [
        entry("eu-expansion", f"Story {n}", float(n), f"entirely separate story number {n} " * 5)
        for n in range(1, 8)
    ]
    digest = build_digest(subscription(min_score=3.0), sample_period(), entries, max_items=2)
    [section] = digest.sections
    assert [i.title for i in section.items] == ["Story 7", "Story 6"]
    assert section.more == 3 and section.count == 5 and digest.item_count == 5


def test_an_empty_period_gives_an_empty_digest() -> None:
    digest = build_digest(subscription(), sample_period(), [])
    assert digest.is_empty and digest.item_count == 0
    assert digest.quiet == subscription().watchlists


def test_syndicated_copies_are_shown_once_with_their_other_sources() -> None:
    digest = sample_digest()
    section = digest.sections[0]
    lead = section.items[0]
    assert lead.source == "EV Wire"  # the best-scored copy leads
    assert [o.source for o in lead.also] == ["Fleet Europe Daily", "Autoblad"]
    assert all(o.url and o.title for o in lead.also)
    titles = [i.title for s in digest.sections for i in s.items]
    assert "Stellantis network to carry Leapmotor in twelve more countries" not in titles
    assert not section.items[1].also


def test_the_same_article_twice_in_a_watchlist_is_listed_once() -> None:
    e = entry("eu-expansion", "Same", 3.0, "same body text", article_id=5)
    digest = build_digest(subscription(), sample_period(), [e, e])
    assert digest.item_count == 1


def test_period_texts_are_in_the_subscriptions_zone() -> None:
    digest = sample_digest()
    assert digest.period_text == "16 Nov 08:00 – 23 Nov 2026 08:00 CET"
    assert digest.period_short == "week 47"
    assert digest.heading == "Weekly digest"
    daily = subscription(schedule="daily", day=None)
    period = latest_period(daily, datetime(2026, 11, 23, 9, tzinfo=UTC))
    assert build_digest(daily, period, []).period_short == "22 Nov 2026"


# --- snippets ------------------------------------------------------------------------------


def test_the_snippet_marks_highlights_and_escapes_the_rest() -> None:
    body = "Intro. <script>alert(1)</script> & Leapmotor opens 12 stores in Europe."
    html, text = snippet(body, [hl(body, "Leapmotor"), hl(body, "Europe")])
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp;" in html
    assert "<mark>Leapmotor</mark>" in html and "<mark>Europe</mark>" in html
    assert "Leapmotor opens 12 stores in Europe." in text and "<mark>" not in text


def test_the_snippet_is_the_window_with_the_most_distinct_terms() -> None:
    filler = "Nothing to see in this sentence at all. " * 12
    body = (
        "Leapmotor is mentioned once here. "
        + filler
        + "Here Leapmotor meets Stellantis dealers in Europe. "
        + filler
    )
    highlights = [
        hl(body, "Leapmotor", nth=0),
        hl(body, "Leapmotor", nth=1),
        hl(body, "Stellantis"),
        hl(body, "dealers"),
        hl(body, "Europe"),
    ]
    html, text = snippet(body, highlights, width=200)
    assert "<mark>Stellantis</mark>" in html and "<mark>Europe</mark>" in html
    assert text.startswith("… ") and text.endswith(" …")
    assert "mentioned once" not in text
    assert len(text) <= 260


def test_the_snippet_collapses_whitespace_and_never_cuts_a_highlight() -> None:
    body = "First line\n\n   second   line with Leapmotor\tand more " + "words " * 100
    html, text = snippet(body, [hl(body, "Leapmotor")], width=60)
    assert "\n" not in text and "  " not in text
    assert text.startswith("First line second line with Leapmotor")
    long_body = "x " * 40 + "Supercalifragilistic" + " y" * 40
    html, text = snippet(long_body, [hl(long_body, "Supercalifragilistic")], width=90)
    assert "<mark>Supercalifragilistic</mark>" in html


def test_a_snippet_without_usable_highlights_is_the_opening() -> None:
    body = "Opening sentence of the article. " + "More text. " * 60
    stale = Highlight("body", 10_000, 10_009, "Leapmotor", "Leapmotor")
    title_only = Highlight("title", 0, 7, "Opening", "Opening")
    html, text = snippet(body, [stale, title_only])
    assert text.startswith("Opening sentence") and text.endswith("…")
    assert "<mark>" not in html
    assert snippet("", []) == ("", "")


@pytest.mark.parametrize(
    ("published", "shown"),
    [
        ("2026-03-02", "2 Mar 2026"),
        ("2025-07", "Jul 2025"),
        ("2026-11-22T23:30:00Z", "23 Nov 2026"),  # already the 23rd in Amsterdam
        ("2026-11-22T23:30:00", "23 Nov 2026"),  # naive timestamps are UTC
        ("last Tuesday", "last Tuesday"),
        (None, ""),
    ],
)
def test_display_dates(published: str | None, shown: str) -> None:
    assert display_date(published, ZoneInfo("Europe/Amsterdam")) == shown


# --- rendering -----------------------------------------------------------------------------


def render_sample(env: object | None = None) -> tuple[str, str, str]:
    return render_digest(
        sample_digest(),
        env or make_template_env(),  # type: ignore[arg-type]
        unsubscribe_url=UNSUBSCRIBE,
        watchlist_names=sample_watchlist_names(),
    )


def test_the_rendered_digest_has_subject_html_and_text() -> None:
    subject, html, text = render_sample()
    assert subject.startswith("Weekly digest, week 47: 7 stories – Leapmotor to double")
    assert "\n" not in subject
    # HTML: inlined styles, tables, max 640px, marks, escaped, unsubscribe link.
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert 'class="item" style="' in html
    assert "max-width: 640px" in html
    assert "<mark" in html and "Leapmotor</mark>" in html
    assert "@media only screen" in html  # phones: kept in <style>
    assert html.count('role="presentation"') >= 2
    assert f'href="{UNSUBSCRIBE}"' in html
    assert "Also reported by" in html and "Fleet Europe Daily</a>" in html
    assert "Nothing new this time in EU tariffs on Chinese EVs" in html
    # Text: the same stories, no markup.
    assert "<" not in text.replace("<http", "")
    assert "1. Leapmotor to double European sales points through Stellantis dealers" in text
    assert "Also reported by: Fleet Europe Daily, Autoblad" in text
    assert f"Unsubscribe: {UNSUBSCRIBE}" in text
    assert "\n\n\n" not in text


def test_titles_are_escaped_in_html() -> None:
    sub = subscription(watchlists=("eu-expansion",))
    e = entry("eu-expansion", "Tariffs <b>&</b> trade", 3.0, "Body about tariffs and trade.")
    digest = build_digest(sub, sample_period(), [e])
    _, html, text = render_digest(digest, make_template_env(), unsubscribe_url=UNSUBSCRIBE)
    assert "Tariffs &lt;b&gt;&amp;&lt;/b&gt; trade" in html and "<b>&</b>" not in html
    assert "Tariffs <b>&</b> trade" in text


def test_user_templates_override_one_template_and_can_extend_the_builtin(tmp_path: Path) -> None:
    (tmp_path / "digest.subject.j2").write_text("[News] {{ digest.item_count }} new\n")
    (tmp_path / "digest.txt.j2").write_text('{% extends "builtin/digest.txt.j2" %}\n')
    subject, html, text = render_sample(make_template_env(tmp_path))
    assert subject == "[News] 7 new"
    assert "WEEKLY DIGEST" in text and "Weekly digest" in html  # the rest is built-in
    with pytest.raises(ConfigError, match="templates folder not found"):
        make_template_env(tmp_path / "missing")


def test_a_full_user_folder_works_without_builtin_templates(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.deliver import templates

    monkeypatch.setattr(templates, "builtin_templates_dir", lambda: None)
    with pytest.raises(ConfigError, match="NEWSWATCH_TEMPLATES_DIR"):
        make_template_env(None)
    copy = tmp_path / "mine"
    shutil.copytree(repo_root / "templates", copy)
    env = make_template_env(copy)
    assert check_templates(env) == []
    (copy / "alert.txt.j2").unlink()
    assert check_templates(make_template_env(copy)) == ["alert.txt.j2: template not found"]


def test_the_package_reaches_the_repository_templates(repo_root: Path) -> None:
    from worker.deliver.templates import builtin_templates_dir

    found = builtin_templates_dir()
    assert found is not None and found.resolve() == (repo_root / "templates").resolve()


def test_builtin_templates_pass_the_check() -> None:
    assert check_templates(make_template_env()) == []


def test_a_syntax_error_is_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "digest.html.j2").write_text("<p>\n{% for x in sections %}\n<p>{{ x }\n")
    [message] = check_templates(make_template_env(tmp_path))
    assert re.match(rf"^{re.escape(str(tmp_path))}/digest\.html\.j2:3: ", message), message


def test_a_render_error_is_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "digest.txt.j2").write_text(
        "{{ digest.heading }}\n{{ unsubscribe_url }}\n{{ digest.no_such_thing.deeper }}\n"
    )
    [message] = check_templates(make_template_env(tmp_path))
    assert f"{tmp_path}/digest.txt.j2:3: UndefinedError" in message, message
    assert "no_such_thing" in message


def test_a_template_without_the_unsubscribe_link_is_reported(tmp_path: Path) -> None:
    (tmp_path / "digest.html.j2").write_text("<html><body>{{ digest.heading }}</body></html>\n")
    assert check_templates(make_template_env(tmp_path)) == [
        "digest.html.j2: does not show the unsubscribe link ({{ unsubscribe_url }})"
    ]


# --- alerts --------------------------------------------------------------------------------


def test_alerts_render_for_chat_and_carry_a_webhook_payload() -> None:
    first = sample_entries()[0]
    alert = build_alert(sample_subscription(), first)
    title, text = render_alert(alert, make_template_env())
    assert title == f"Non-European car brands expanding in Europe: {first.title}"
    assert text.splitlines()[0] == first.title
    assert "EV Wire · 18 Nov 2026 · Non-European car brands expanding in Europe · score 8.4" in text
    assert first.url and text.rstrip().endswith(first.url)
    payload = alert_payload(alert, datetime(2026, 11, 18, 10, 0, tzinfo=UTC))
    assert payload["type"] == "newswatch.match"
    assert payload["timestamp"] == "2026-11-18T10:00:00Z"
    data = payload["data"]
    assert data["article"]["id"] == first.article_id and data["watchlist"]["id"] == "eu-expansion"
    assert data["highlights"][0] == first.highlights[0].to_dict()
    assert alert.fingerprint.startswith("m1:")
    assert alert_key("sales", 42) == "alert:sales:42"


# --- how it looks --------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_digest_renders_in_a_real_browser(tmp_path: Path, repo_root: Path) -> None:
    """Screenshot the sample digest with headless Chromium into docs/digest.png."""
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required under CI (apt-get install chromium)")
        pytest.skip("chromium not installed")
    _, html, _ = render_sample()
    page = tmp_path / "digest.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "digest.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=800,1400",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (800, 1400)
    assert len(data) > 50_000  # a rendered page, not a blank one
    docs = repo_root / "docs"
    docs.mkdir(exist_ok=True)
    shutil.copyfile(shot, docs / "digest.png")


def test_sample_subscription_is_a_monday_morning_digest() -> None:
    sub = sample_subscription()
    assert (sub.day, sub.time, sub.timezone) == (0, time(8, 0), "Europe/Amsterdam")
