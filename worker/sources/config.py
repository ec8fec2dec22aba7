"""sources.yaml -> inbox folders and feeds to poll, validated with file:line errors.

version: 1
inbox:
  - path: seeds          # relative to the working directory
    pattern: "*.txt"
feeds:
  - name: electrive
    url: https://www.electrive.com/feed/
    language: en         # optional hint; articles are still detected
    interval: 15m        # seconds, or 30s / 15m / 2h / 1d
    enabled: true
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from worker.errors import ConfigError
from worker.yamlfile import load_yaml, locate, validate

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError("expected seconds or a duration like 30s, 15m, 2h, 1d")
    if seconds < 1:
        raise ValueError("must be at least 1 second")
    return int(seconds)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InboxSpec(_Spec):
    path: Path
    pattern: str = "*.txt"


class FeedSpec(_Spec):
    name: str = Field(min_length=1, max_length=200)
    url: str
    language: str | None = None
    interval: int | None = None
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)


class SourcesSpec(_Spec):
    version: int = Field(1, ge=1, le=1)
    inbox: list[InboxSpec] = Field(default_factory=lambda: [InboxSpec(path=Path("seeds"))])
    feeds: list[FeedSpec] = Field(default_factory=list)

    @field_validator("inbox", "feeds", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


def load_sources(path: Path | str, text: str | None = None) -> SourcesSpec:
    """Load sources.yaml; a missing file means the defaults (inbox seeds/, no feeds)."""
    file = str(path)
    if text is None and not Path(path).exists():
        return SourcesSpec(version=1)
    data = load_yaml(path, text)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping with version, inbox, feeds", file, 1, 1)
    spec = validate(SourcesSpec, data, file)
    names = [f.name for f in spec.feeds]
    for i, name in enumerate(names):
        if name in names[:i]:
            mark = locate(data, ("feeds", i, "name"))
            raise ConfigError(
                f"feeds.{i}.name: duplicate feed name {name!r}",
                file,
                mark.line if mark else None,
                mark.column if mark else None,
            )
    return spec
