"""watchlists.yaml validation: every error names file:line (and column) and the key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.watchlists import config_from
from worker.errors import ConfigError
from worker.watchlists.schema import load_watchlists


def error_of(yaml_text: str) -> str:
    with pytest.raises(ConfigError) as info:
        config_from(yaml_text)
    return str(info.value)


def test_default_config_loads_with_required_ids(repo_root: Path) -> None:
    config = load_watchlists(repo_root / "config" / "watchlists.yaml")
    for wid in ("eu-expansion", "after-sales", "leapmotor", "xiaomi-auto", "byd", "tesla"):
        assert wid in config.watchlists
    for bid in (
        "leapmotor",
        "xiaomi-auto",
        "byd",
        "tesla",
        "mg",
        "nio",
        "xpeng",
        "zeekr",
        "polestar",
        "lynk-co",
        "chery",
    ):
        assert bid in config.brands


def test_yaml_syntax_error_gives_line() -> None:
    message = error_of("""\
    version: 1
    themes:
      a:
        query: [unclosed
    """)
    assert message.startswith("test.yaml:5:")
    assert "invalid YAML" in message


def test_unknown_key_points_at_the_key() -> None:
    message = error_of("""\
    version: 1
    brands:
      tesla:
        aliasses: [Tesla]
    """)
    assert message == "test.yaml:4:5: brands.tesla.aliasses: unknown key 'aliasses'"


def test_wrong_type_names_line_and_key() -> None:
    message = error_of("""\
    version: 1
    brands:
      tesla:
        window: lots
    """)
    assert message.startswith("test.yaml:4:")
    assert "brands.tesla.window" in message


def test_missing_version_and_bad_version() -> None:
    assert "missing required key 'version'" in error_of("brands: {}\n")
    assert "version" in error_of("version: 2\n")


def test_duplicate_id_is_an_error_with_both_lines() -> None:
    message = error_of("""\
    version: 1
    brands:
      tesla:
        aliases: [Tesla]
      tesla:
        aliases: [TSLA]
    """)
    assert message == "test.yaml:5:3: duplicate key 'tesla' (first defined at line 3)"


def test_unknown_brand_in_watchlist_list() -> None:
    message = error_of("""\
    version: 1
    brands:
      byd: {aliases: [BYD]}
    watchlists:
      w:
        brands: [byd, leapmotr]
    """)
    assert message == "test.yaml:6:19: watchlists.w.brands: unknown brand id 'leapmotr'"


def test_unknown_theme_in_query_points_at_column() -> None:
    message = error_of("""\
    version: 1
    watchlists:
      w:
        query: 'auto AND theme:nope'
    """)
    # the value starts at column 12, plus the quote, plus 15 characters into the query
    assert message == "test.yaml:4:28: unknown theme id 'nope' in query"


def test_query_syntax_error_points_at_file_line_and_column() -> None:
    message = error_of("""\
    version: 1
    themes:
      eu:
        query: '(dealer* OR showroom*) AND (Europa OR'
    """)
    assert message.startswith("test.yaml:4:")
    line, col = message.split(":")[1:3]
    assert int(col) == 12 + 1 + len("(dealer* OR showroom*) AND (Europa OR")
    assert (
        "expected a term" in message and "after '(dealer* OR showroom*) AND (Europa OR'" in message
    )


def test_several_errors_reported_at_once() -> None:
    message = error_of("""\
    version: 1
    themes:
      a: {query: 'x AND'}
      b: {query: 'y OR OR'}
    """)
    assert len(message.splitlines()) == 2


def test_theme_cycle_is_rejected() -> None:
    message = error_of("""\
    version: 1
    themes:
      a: {query: 'x OR theme:b'}
      b: {query: 'y OR theme:a'}
    """)
    assert "cycle" in message


def test_empty_watchlist_is_rejected() -> None:
    assert "needs at least one of brands, themes or query" in error_of("""\
    version: 1
    watchlists:
      w: {name: nothing}
    """)


def test_watchlist_with_only_brands_themes_or_query_is_fine() -> None:
    config = config_from("""\
    version: 1
    brands: {byd: {aliases: ["{BYD}"]}}
    themes: {t: {query: dealer}}
    watchlists:
      only-brands: {brands: [byd]}
      only-themes: {themes: [t]}
      only-query: {query: 'auto'}
    """)
    assert list(config.watchlists) == ["only-brands", "only-themes", "only-query"]


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_watchlists(tmp_path / "nope.yaml")
    path = tmp_path / "w.yaml"
    path.write_text(textwrap.dedent("version: 1\nwatchlists:\n  w: {query: '\"open'}\n"))
    with pytest.raises(ConfigError) as info:
        load_watchlists(path)
    assert str(info.value).startswith(f"{path}:3:")
