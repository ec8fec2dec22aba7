from __future__ import annotations

from pathlib import Path

import pytest

from worker.errors import PermanentError
from worker.sources.files import find_article_files, parse_seed, read_article_file


def test_full_date_line_gives_date_lede_and_title() -> None:
    a = parse_seed(" date 2026-03-02 Een lede hier.\n\nDe titel\n\nDe tekst.\nMeer tekst.")
    assert a.published == "2026-03-02"
    assert a.lede == "Een lede hier."
    assert a.title == "De titel"
    assert a.body == "Een lede hier.\n\nDe tekst.\nMeer tekst."


def test_partial_date_is_kept_partial() -> None:
    a = parse_seed(" date 2025-07 Nieuws\n\n\n\nMet zijn modellen\n\ntekst")
    assert a.published == "2025-07"
    assert a.title == "Met zijn modellen"
    assert a.lede == "Nieuws"


def test_no_date_line_title_is_first_line() -> None:
    a = parse_seed("Reparatie op mijn oprit\n\nreparatie op mijn oprit\n\nTekst.")
    assert a.published is None
    assert a.lede is None
    assert a.title == "Reparatie op mijn oprit"
    assert a.body.startswith("reparatie op mijn oprit")


def test_date_line_without_leading_space_and_crlf() -> None:
    a = parse_seed("date 2024-01-31 Lede\r\nTitel\r\nBody")
    assert (a.published, a.lede, a.title, a.body) == ("2024-01-31", "Lede", "Titel", "Lede\n\nBody")


def test_a_word_date_in_text_is_not_a_date_line() -> None:
    a = parse_seed("date night in Paris\nText")
    assert a.published is None
    assert a.title == "date night in Paris"


def test_markdown_heading_title() -> None:
    a = parse_seed("# BYD opent showroom\n\nTekst")
    assert a.title == "BYD opent showroom"


def test_real_seeds(repo_root: Path) -> None:
    seeds = sorted((repo_root / "seeds").glob("*.txt"))
    assert len(seeds) == 4
    parsed = {p.name[:3]: read_article_file(p) for p in seeds}
    assert parsed["000"].published == "2026-03-02"
    assert parsed["001"].published == "2025-09-26"
    assert parsed["002"].published == "2025-07"
    assert parsed["003"].published is None
    assert parsed["003"].title == "Reparatie op mijn oprit"
    assert parsed["002"].title.startswith("Met zijn mateloos populaire automodellen")


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n")
    with pytest.raises(PermanentError, match="empty"):
        read_article_file(empty)
    with pytest.raises(PermanentError, match="cannot read"):
        read_article_file(tmp_path / "missing.txt")


def test_cp1252_file_is_read(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_bytes("Caf\xe9 in Br\xfcssel\nTekst".encode("latin-1"))
    assert read_article_file(f).title == "Café in Brüssel"


def test_find_article_files_recurses_and_filters(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.txt", "sub/b.md", "sub/c.json"):
        (tmp_path / name).write_text("x")
    found = [p.relative_to(tmp_path).as_posix() for p in find_article_files([tmp_path])]
    assert found == ["a.txt", "sub/b.md"]
