"""watchlists.yaml -> validated, compiled watchlists (the contract users write against).

Takes the YAML file; returns a WatchlistConfig whose brands, themes and watchlists hold parsed
query trees with every brand:/theme: reference resolved. Every problem (YAML syntax, wrong
type, unknown key, duplicate id, unknown reference, query syntax, reference cycle) is
reported as `file:line:col: message`, all of them at once, never as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from worker.errors import ConfigError, ConfigErrors
from worker.watchlists.query import (
    And,
    Lang,
    Node,
    Or,
    QuerySyntaxError,
    Ref,
    literal,
    parse,
    refs_of,
)
from worker.yamlfile import Mark, load_yaml, locate, validate, value_mark

Language = Literal["nl", "en", "de", "fr", "other"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExamplesSpec(_Spec):
    match: list[str] = Field(default_factory=list)
    no_match: list[str] = Field(default_factory=list)


class BrandSpec(_Spec):
    name: str | None = None
    aliases: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    require_near: list[str] = Field(default_factory=list)
    window: int = Field(default=25, ge=1, le=1000)
    examples: ExamplesSpec | None = None


class ThemeSpec(_Spec):
    name: str | None = None
    query: str
    examples: ExamplesSpec | None = None


class WatchlistSpec(_Spec):
    name: str | None = None
    description: str | None = None
    brands: list[str] = Field(default_factory=list)
    themes: list[str] = Field(default_factory=list)
    query: str | None = None
    languages: list[Language] | None = None
    min_score: float = Field(default=0.0, ge=0)
    examples: ExamplesSpec | None = None


class WatchlistFileSpec(_Spec):
    version: Literal[1]
    brands: dict[str, BrandSpec] = Field(default_factory=dict)
    themes: dict[str, ThemeSpec] = Field(default_factory=dict)
    watchlists: dict[str, WatchlistSpec] = Field(default_factory=dict)

    @field_validator("brands", "themes", "watchlists", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


# --- compiled forms ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Brand:
    id: str
    name: str
    aliases: tuple[Node, ...]
    models: tuple[Node, ...]
    exclude: tuple[Node, ...]
    require_near: tuple[Node, ...]
    window: int


@dataclass(frozen=True, slots=True)
class Theme:
    id: str
    name: str
    query: Node


@dataclass(frozen=True, slots=True)
class Watchlist:
    id: str
    name: str
    brands: tuple[str, ...]
    themes: tuple[str, ...]
    query: Node | None
    languages: tuple[str, ...] | None
    min_score: float
    root: Node  # every part ANDed: any brand, any theme, the query, the language filter


@dataclass(frozen=True, slots=True)
class Example:
    """An example text from the file, with where it stands, to run with `newswatch check`."""

    kind: str  # "brand" | "theme" | "watchlist"
    id: str
    text: str
    should_match: bool
    file: str
    line: int | None


@dataclass(slots=True)
class WatchlistConfig:
    file: str
    brands: dict[str, Brand] = field(default_factory=dict)
    themes: dict[str, Theme] = field(default_factory=dict)
    watchlists: dict[str, Watchlist] = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)


def _error_at(file: str, mark: Mark | None, message: str, offset: int | None = None) -> ConfigError:
    if mark is None:
        return ConfigError(message, file)
    if offset is not None and mark.style in (None, "'", '"'):
        return ConfigError(message, file, mark.line, mark.text_column(offset))
    if offset is not None:  # block scalar: the text starts on the next line
        return ConfigError(message, file, mark.line + 1, offset + 1)
    return ConfigError(message, file, mark.line, mark.column)


class _Compiler:
    def __init__(self, spec: WatchlistFileSpec, data: Any, file: str) -> None:
        self.spec, self.data, self.file = spec, data, file
        self.errors: list[ConfigError] = []

    def query(self, text: str, loc: tuple[Any, ...]) -> Node | None:
        try:
            node = parse(text)
        except QuerySyntaxError as exc:
            self.errors.append(
                _error_at(self.file, value_mark(self.data, loc), exc.message, exc.column - 1)
            )
            return None
        for ref in refs_of(node):
            known = self.spec.brands if ref.kind == "brand" else self.spec.themes
            if ref.id not in known:
                self.errors.append(
                    _error_at(
                        self.file,
                        value_mark(self.data, loc),
                        f"unknown {ref.kind} id {ref.id!r} in {loc[-1]}",
                        ref.column - 1,
                    )
                )
        return node

    def literals(self, texts: list[str], loc: tuple[Any, ...]) -> tuple[Node, ...]:
        nodes = []
        for i, text in enumerate(texts):
            try:
                nodes.append(literal(text))
            except QuerySyntaxError as exc:
                self.errors.append(_error_at(self.file, locate(self.data, (*loc, i)), exc.message))
        return tuple(nodes)

    def examples(
        self, kind: str, id_: str, spec: ExamplesSpec | None, loc: tuple[Any, ...]
    ) -> None:
        if spec is None:
            return
        for should, texts in ((True, spec.match), (False, spec.no_match)):
            key = "match" if should else "no_match"
            for i, text in enumerate(texts):
                mark = locate(self.data, (*loc, "examples", key, i))
                self.spec_examples.append(
                    Example(kind, id_, text, should, self.file, mark.line if mark else None)
                )

    def compile(self) -> WatchlistConfig:
        self.spec_examples: list[Example] = []
        config = WatchlistConfig(self.file)
        for bid, b in self.spec.brands.items():
            loc = ("brands", bid)
            aliases = b.aliases or ([b.name] if b.name else [bid])
            config.brands[bid] = Brand(
                id=bid,
                name=b.name or bid,
                aliases=self.literals(aliases, (*loc, "aliases") if b.aliases else (*loc, "name")),
                models=self.literals(b.models, (*loc, "models")),
                exclude=self.literals(b.exclude, (*loc, "exclude")),
                require_near=self.literals(b.require_near, (*loc, "require_near")),
                window=b.window,
            )
            self.examples("brand", bid, b.examples, loc)
        for tid, t in self.spec.themes.items():
            node = self.query(t.query, ("themes", tid, "query"))
            if node is not None:
                config.themes[tid] = Theme(tid, t.name or tid, node)
            self.examples("theme", tid, t.examples, ("themes", tid))
        self._check_cycles(config)
        for wid, w in self.spec.watchlists.items():
            loc = ("watchlists", wid)
            parts: list[Node] = []
            for kind, ids, known in (
                ("brand", w.brands, self.spec.brands),
                ("theme", w.themes, self.spec.themes),
            ):
                for i, ref_id in enumerate(ids):
                    if ref_id not in known:
                        self.errors.append(
                            _error_at(
                                self.file,
                                locate(self.data, (*loc, f"{kind}s", i)),
                                f"watchlists.{wid}.{kind}s: unknown {kind} id {ref_id!r}",
                            )
                        )
                if ids:
                    parts.append(Or(tuple(Ref(kind, ref_id, 0) for ref_id in ids)))
            query = self.query(w.query, (*loc, "query")) if w.query else None
            if query is not None:
                parts.append(query)
            if w.languages:
                parts.append(Or(tuple(Lang(code) for code in w.languages)))
            if not (w.brands or w.themes or w.query):
                self.errors.append(
                    _error_at(
                        self.file,
                        locate(self.data, loc),
                        f"watchlists.{wid}: needs at least one of brands, themes or query",
                    )
                )
                continue
            config.watchlists[wid] = Watchlist(
                id=wid,
                name=w.name or wid,
                brands=tuple(w.brands),
                themes=tuple(w.themes),
                query=query,
                languages=tuple(w.languages) if w.languages else None,
                min_score=w.min_score,
                root=parts[0] if len(parts) == 1 else And(tuple(parts)),
            )
            self.examples("watchlist", wid, w.examples, loc)
        config.examples = self.spec_examples
        return config

    def _check_cycles(self, config: WatchlistConfig) -> None:
        """theme:A inside theme B inside theme A would never finish evaluating."""
        graph = {
            tid: [r.id for r in refs_of(t.query) if r.kind == "theme"]
            for tid, t in config.themes.items()
        }
        state: dict[str, int] = {}

        def visit(tid: str, path: list[str]) -> None:
            state[tid] = 1
            for nxt in graph.get(tid, []):
                if state.get(nxt) == 1:
                    cycle = " -> ".join([*path[path.index(nxt) :], nxt]) if nxt in path else nxt
                    self.errors.append(
                        _error_at(
                            self.file,
                            locate(self.data, ("themes", tid, "query")),
                            f"themes.{tid}.query: theme references form a cycle: {cycle}",
                        )
                    )
                elif state.get(nxt) is None and nxt in graph:
                    visit(nxt, [*path, nxt])
            state[tid] = 2

        for tid in graph:
            if tid not in state:
                visit(tid, [tid])


def load_watchlists(path: Path | str, text: str | None = None) -> WatchlistConfig:
    """Load, validate and compile a watchlists file. Raises ConfigError(s) with positions."""
    file = str(path)
    data = load_yaml(path, text)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping with version, brands, themes, watchlists", file, 1, 1)
    spec = validate(WatchlistFileSpec, data, file)
    compiler = _Compiler(spec, data, file)
    config = compiler.compile()
    if compiler.errors:
        raise ConfigErrors(compiler.errors)
    return config
