"""Feed values -> Article fields: clean text, article URLs, UTC dates, language tags.

Pure functions used by `worker.sources.feeds`. None of them raises on odd input: what
cannot be read becomes "" or None, so one strange value never costs a whole entry.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl, urljoin, urlsplit

from inscriptis import get_text

from worker.urls import canonical_url

__all__ = [
    "article_url",
    "clean_text",
    "clean_title",
    "iso_utc",
    "normalise_language",
    "parse_date",
    "struct_time_iso",
]

# --- text ----------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\xa0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(value: object, content_type: str = "text/plain") -> str:
    """Readable text from a feed value: HTML (a content type naming html or xhtml) rendered
    by inscriptis; single spaces inside lines, at most one blank line between paragraphs, no
    control characters (PostgreSQL text cannot hold NUL). "" for anything but a string."""
    if not isinstance(value, str) or not value.strip():
        return ""
    text = get_text(value) if "html" in content_type else value
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def clean_title(value: object, content_type: str = "text/plain") -> str:
    """clean_text on one line."""
    return " ".join(clean_text(value, content_type).split())


# --- links ---------------------------------------------------------------------------------

_GOOGLE_HOSTS = frozenset({"www.google.com", "google.com"})


def article_url(link: object, base_url: str) -> str | None:
    """canonical_url of `link` resolved against `base_url`; None unless it is http(s).

    Google Alerts links go through google.com/url?...&url=<article>, with a signature that
    changes per alert; the article they point to is the identity, so it is unwrapped.
    """
    if not isinstance(link, str) or not link.strip():
        return None
    try:
        absolute = urljoin(base_url, link.strip())
        parts = urlsplit(absolute)
        if parts.hostname in _GOOGLE_HOSTS and parts.path == "/url":
            target = dict(parse_qsl(parts.query)).get("url", "")
            if urlsplit(target).scheme in ("http", "https"):
                absolute = target
        if urlsplit(absolute).scheme not in ("http", "https"):
            return None
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
    return canonical_url(absolute)


# --- dates ---------------------------------------------------------------------------------


def iso_utc(moment: datetime) -> str:
    """ "YYYY-MM-DDTHH:MM:SSZ" in UTC; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    m = moment.astimezone(UTC)
    # Not strftime: it does not zero-pad years before 1000 on every platform.
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}Z"


def struct_time_iso(value: time.struct_time) -> str | None:
    """feedparser's parsed dates (struct_time in UTC) as iso_utc; None if out of range."""
    try:  # a leap second (60) does not fit a datetime
        return iso_utc(datetime(*value[:5], min(value[5], 59), tzinfo=UTC))
    except (ValueError, TypeError, OverflowError):
        return None


def parse_date(text: str) -> str | None:
    """A date as iso_utc, or None when no format fits. Tried in order: Unix time (as some
    dc:date carry), RFC 3339, RFC 822, year/month/day ("2020/1/10 14:33:00"), and RFC 822
    with month names in en, pt, es, fr, de, it or nl ("Seg, 24 Set 2018 19:42:40 -0300").
    A date without a zone is taken as UTC."""
    text = text.strip()
    if not text:
        return None
    for parse in _DATE_PARSERS:
        try:
            moment = parse(text)
            if moment is not None:
                return iso_utc(moment)
        except (ValueError, TypeError, IndexError, OverflowError):
            continue
    return None


def _unix_time(text: str) -> datetime | None:
    if not (text.isdigit() and len(text) in (9, 10)):
        return None
    return datetime.fromtimestamp(int(text), UTC)


_NUMERIC_DATE = re.compile(
    r"(\d{4})/(\d{1,2})/(\d{1,2})(?:[\sT]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*\Z"
)


def _numeric_date(text: str) -> datetime | None:
    match = _NUMERIC_DATE.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part or 0) for part in match.groups())
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# Month names by their first four, else three, letters; the day name is ignored.
_MONTHS = {
    "jan": 1, "ene": 1, "gen": 1, "feb": 2, "fev": 2, "fév": 2, "mar": 3, "mär": 3, "mrz": 3,
    "mrt": 3, "apr": 4, "abr": 4, "avr": 4, "may": 5, "mai": 5, "mag": 5, "mei": 5,
    "jun": 6, "giu": 6, "juin": 6, "jul": 7, "lug": 7, "juil": 7, "aug": 8, "ago": 8,
    "aoû": 8, "aou": 8, "sep": 9, "set": 9, "oct": 10, "out": 10, "okt": 10, "ott": 10,
    "nov": 11, "dec": 12, "dez": 12, "dic": 12, "déc": 12,
}  # fmt: skip
_LOCALISED_DATE = re.compile(
    r"(\d{1,2})\.?\s+([^\W\d_]{3,})\.?,?\s+(\d{4}|\d{2})\b"
    r"(?:[\sT,]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*(?:([+-])(\d{2}):?(\d{2}))?"
)


def _localised_date(text: str) -> datetime | None:
    match = _LOCALISED_DATE.search(text)
    if not match:
        return None
    day, name, year, hour, minute, second, sign, off_h, off_m = match.groups()
    month = _MONTHS.get(name.lower()[:4]) or _MONTHS.get(name.lower()[:3])
    if month is None:
        return None
    full_year = int(year) + (0 if len(year) == 4 else 2000 if int(year) < 50 else 1900)
    offset = timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
    return datetime(
        full_year, month, int(day), int(hour or 0), int(minute or 0), int(second or 0),
        tzinfo=timezone(-offset if sign == "-" else offset),
    )  # fmt: skip


_DATE_PARSERS: tuple[Callable[[str], datetime | None], ...] = (
    _unix_time,
    datetime.fromisoformat,
    email.utils.parsedate_to_datetime,
    _numeric_date,
    _localised_date,
)


# --- languages -----------------------------------------------------------------------------

_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")


def normalise_language(tag: object) -> str | None:
    """ "en_US" -> "en-US", "IT-it" -> "it-IT"; None for empty or malformed tags."""
    if not isinstance(tag, str):
        return None
    tag = tag.strip().replace("_", "-")
    if not _LANGUAGE_TAG.fullmatch(tag):
        return None
    primary, *rest = tag.split("-")
    subtags = [s.upper() if len(s) == 2 and s.isalpha() else s.lower() for s in rest]
    return "-".join([primary.lower(), *subtags])
