"""Shared fixtures. Server fixtures live in tests/support/, imported by the tests that need them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """../shared beside the checkout (CI clones main with shared/ beside it)."""
    override = os.environ.get("NEWSWATCH_SHARED_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _clean_newswatch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's NEWSWATCH_* settings."""
    for key in list(os.environ):
        if key.startswith("NEWSWATCH_") and key != "NEWSWATCH_SHARED_DIR":
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def corpus_dir() -> Path:
    path = shared_dir() / "corpus" / "feeds"
    if not path.is_dir():
        pytest.fail(f"feed corpus not found at {path}")
    return path
