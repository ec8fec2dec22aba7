"""Classification speed at 10 to 10,000 watchlists, side by side with a floor and a baseline.

    python benchmarks/bench_matcher.py [--json] [--sizes 10,100,1000,10000] [--baseline-articles 20]

Corpus: the seed articles plus the text of every item of the feeds in ../shared/corpus/feeds.
For each number of generated watchlists, in one run:

- floor:    normalization alone (tokenize, lemmatize, detect language) per article;
- ours:     normalization + presearch + evaluation (newswatch's Matcher);
- baseline: what a user would hand-roll: one compiled regular expression per watchlist term,
            every watchlist evaluated on every article (timed on a subset of articles when
            it would take too long; rates are per article, so they compare directly).

Generated watchlists look like real ones: most track one (synthetic) brand with one theme,
some track a real brand, some are free queries over words of the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker.classify import Matcher  # noqa: E402
from worker.models import Article  # noqa: E402
from worker.sources.files import read_article_file  # noqa: E402
from worker.text import fold, normalize, tokenize  # noqa: E402
from worker.watchlists.query import (  # noqa: E402
    And,
    Field,
    Lang,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Ref,
    Source,
    Term,
)
from worker.watchlists.schema import WatchlistConfig, load_watchlists  # noqa: E402


def shared_dir() -> Path:
    return Path(os.environ.get("NEWSWATCH_SHARED_DIR", ROOT.parent / "shared"))


def load_corpus() -> list[Article]:
    import feedparser
    from inscriptis import get_text

    articles = [read_article_file(p) for p in sorted((ROOT / "seeds").glob("*.txt"))]
    feeds = shared_dir() / "corpus" / "feeds"
    for path in sorted(feeds.glob("*")):
        if path.suffix not in (".xml", ".json"):
            continue
        parsed = feedparser.parse(path.read_bytes())
        for entry in parsed.entries:
            html = ""
            if entry.get("content"):
                html = entry.content[0].get("value", "")
            html = html or entry.get("summary", "")
            try:
                body = get_text(html) if "<" in html else html
            except Exception:
                body = html
            title = entry.get("title", "")
            if title or body:
                articles.append(Article(title=title, body=body, source=path.stem))
    return articles


# --- generated watchlists -----------------------------------------------------------------

SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ze",
    "tor",
    "vex",
    "ra",
    "qu",
    "nix",
    "bo",
    "dra",
    "sun",
    "el",
    "fi",
    "gor",
    "ha",
    "jun",
    "ly",
    "mo",
    "pex",
    "ri",
    "sa",
    "ti",
    "ul",
    "vo",
    "wa",
]


def corpus_vocabulary(articles: list[Article]) -> list[str]:
    counts: dict[str, int] = {}
    for a in articles:
        for _, _, w in tokenize(f"{a.title} {a.body}"):
            if len(w) > 3 and w.isalpha():
                counts[fold(w)] = counts.get(fold(w), 0) + 1
    # mid-frequency words: what people actually put in queries
    return sorted(w for w, c in counts.items() if 2 <= c <= 50)


def generate_yaml(n: int, vocabulary: list[str], base: WatchlistConfig, seed: int = 7) -> str:
    rng = random.Random(seed)
    real_brands = list(base.brands)
    default = (ROOT / "config" / "watchlists.yaml").read_text(encoding="utf-8")
    # Keep the real brands and themes by appending generated parts to the real file's lists.
    brand_lines, theme_lines, watch_lines = [], [], []
    n_themes = 60
    for t in range(n_themes):
        words = rng.sample(vocabulary, 6)
        q = f'({words[0]}* OR {words[1]} OR "{words[2]} {words[3]}")'
        q += f" AND ({words[4]} OR *{words[5][1:]})"
        theme_lines.append(f"  gen-theme-{t}: {{query: '{q}'}}")
    themes = [f"gen-theme-{t}" for t in range(n_themes)] + list(base.themes)
    for i in range(n):
        roll = rng.random()
        wid = f"gen-{i}"
        theme = rng.choice(themes)
        if roll < 0.70:
            name = "".join(rng.choice(SYLLABLES) for _ in range(3)) + str(i)
            brand_lines.append(
                f"  gen-brand-{i}: {{aliases: [{name}], models: ['{name} X{i % 9}']}}"
            )
            watch_lines.append(f"  {wid}: {{brands: [gen-brand-{i}], themes: [{theme}]}}")
        elif roll < 0.75:
            watch_lines.append(
                f"  {wid}: {{brands: [{rng.choice(real_brands)}], themes: [{theme}]}}"
            )
        else:
            w = rng.sample(vocabulary, 4)
            watch_lines.append(f"  {wid}: {{query: '\"{w[0]}\" AND ({w[1]}* OR {w[2]}) -{w[3]}'}}")
    head, _, rest = default.partition("\nbrands:\n")
    brands_part, _, rest = rest.partition("\nthemes:\n")
    themes_part, _, watch_part = rest.partition("\nwatchlists:\n")
    return "\n".join(
        [
            head,
            "brands:",
            brands_part,
            *brand_lines,
            "themes:",
            themes_part,
            *theme_lines,
            "watchlists:",
            *watch_lines,
            "",
        ]
    )


# --- the hand-rolled baseline -----------------------------------------------------------


class RegexBaseline:
    """One compiled regex per term of each watchlist; every watchlist checked on every article."""

    def __init__(self, config: WatchlistConfig) -> None:
        self.config = config
        self.compiled = [(wid, self._compile(w.root)) for wid, w in config.watchlists.items()]

    def _rx(self, term: Term) -> re.Pattern[str]:
        v = re.escape(term.surface if term.case_sensitive else term.value)
        pattern = {
            "exact": rf"\b{v}\b",
            "prefix": rf"\b{v}\w*",
            "suffix": rf"\w*{v}\b",
            "infix": rf"\w*{v}\w*",
        }[term.kind]
        return re.compile(pattern, 0 if term.case_sensitive else re.IGNORECASE)

    def _compile(self, node: Node) -> object:
        if isinstance(node, Term):
            return ("re", self._rx(node))
        if isinstance(node, Phrase):
            parts = [re.escape(t.surface) for t in node.terms]
            return ("re", re.compile(r"\b" + r"\W+".join(parts) + r"\b", re.IGNORECASE))
        if isinstance(node, And | Or):
            return (
                "and" if isinstance(node, And) else "or",
                [self._compile(c) for c in node.children],
            )
        if isinstance(node, Not):
            return ("not", self._compile(node.child))
        if isinstance(node, Near):
            return ("and", [self._compile(node.left), self._compile(node.right)])
        if isinstance(node, Field):
            return self._compile(node.child)
        if isinstance(node, Ref):
            if node.kind == "theme":
                return self._compile(self.config.themes[node.id].query)
            b = self.config.brands[node.id]
            return ("or", [self._compile(x) for x in b.aliases + b.models])
        if isinstance(node, Lang | Source):
            return ("true", None)
        raise TypeError(node)

    def _eval(self, c: object, text: str) -> bool:
        kind, arg = c  # type: ignore[misc]
        if kind == "re":
            return arg.search(text) is not None
        if kind == "and":
            return all(self._eval(x, text) for x in arg)
        if kind == "or":
            return any(self._eval(x, text) for x in arg)
        if kind == "not":
            return not self._eval(arg, text)
        return True

    def classify(self, article: Article) -> list[str]:
        text = f"{article.title}\n{article.body}"
        return [wid for wid, c in self.compiled if self._eval(c, text)]


# --- measuring ----------------------------------------------------------------------------


def rate(fn, articles: list[Article], repeat: int = 1) -> float:  # type: ignore[no-untyped-def]
    """Articles per second, best of `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for a in articles:
            fn(a)
        best = min(best, time.perf_counter() - start)
    return len(articles) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument(
        "--baseline-articles",
        type=int,
        default=25,
        help="articles timed for the baseline at 1,000+ watchlists",
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    articles = load_corpus()
    base = load_watchlists(ROOT / "config" / "watchlists.yaml")
    vocabulary = corpus_vocabulary(articles)
    for a in articles:  # warm the lemma caches once, for floor and ours alike
        normalize(a)

    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        config = load_watchlists(f"generated-{n}.yaml", generate_yaml(n, vocabulary, base))
        t0 = time.perf_counter()
        matcher = Matcher(config)
        build_s = time.perf_counter() - t0
        floor = rate(lambda a: normalize(a), articles, args.repeat)
        ours = rate(lambda a, m=matcher: m.classify(normalize(a)), articles, args.repeat)
        baseline_articles = articles if n <= 100 else articles[: args.baseline_articles]
        regex = RegexBaseline(config)
        baseline = rate(regex.classify, baseline_articles, 1)
        matched = sum(len(matcher.classify(a)) for a in articles[:50])
        rows.append(
            {
                "watchlists": len(config.watchlists),
                "articles": len(articles),
                "build_seconds": round(build_s, 3),
                "floor_articles_per_s": round(floor, 1),
                "ours_articles_per_s": round(ours, 1),
                "baseline_articles_per_s": round(baseline, 2),
                "baseline_articles_timed": len(baseline_articles),
                "ours_time_vs_floor": round(floor / ours, 3),
                "ours_speedup_vs_baseline": round(ours / baseline, 1),
                "matches_in_first_50": matched,
            }
        )
    by_n = {r["watchlists"]: r for r in rows}
    result: dict[str, object] = {"corpus_articles": len(articles), "rows": rows}
    if by_n and min(by_n) * 100 <= max(by_n):
        lo, hi = by_n[min(by_n)], by_n[max(by_n)]
        result["slowdown_max_vs_min"] = round(
            lo["ours_articles_per_s"] / hi["ours_articles_per_s"], 3
        )
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"corpus: {len(articles)} articles (seeds + ../shared/corpus/feeds items)")
    print(
        f"{'watchlists':>10} {'floor/s':>9} {'ours/s':>9} {'baseline/s':>11} "
        f"{'ours÷floor time':>16} {'ours vs baseline':>17}"
    )
    for r in rows:
        print(
            f"{r['watchlists']:>10} {r['floor_articles_per_s']:>9} {r['ours_articles_per_s']:>9} "
            f"{r['baseline_articles_per_s']:>11} {r['ours_time_vs_floor']:>15}x "
            f"{r['ours_speedup_vs_baseline']:>16}x"
        )
    if "slowdown_max_vs_min" in result:
        print(
            f"time per article at {max(by_n)} vs {min(by_n)} watchlists: "
            f"{result['slowdown_max_vs_min']}x"
        )


if __name__ == "__main__":
    main()
