"""Seed-derived article files: as many distinct, realistic inbox articles as a test needs.

`write_seed_articles(folder, n)` writes n files in the seed format, each a different mix of
the paragraphs of the seed articles (seeds/*.txt), so they match the real watchlists the
way the seeds do, yet every one has its own content hash. The same n and `seed` always
give the same files.
"""

from __future__ import annotations

import random
from pathlib import Path

from worker.sources.files import read_article_file

__all__ = ["seed_paragraphs", "write_seed_articles"]

REPO_ROOT = Path(__file__).resolve().parents[2]


def seed_paragraphs(seeds_dir: Path = REPO_ROOT / "seeds") -> list[str]:
    """The title and paragraphs of every seed article, in file order."""
    paragraphs: list[str] = []
    for path in sorted(seeds_dir.glob("*.txt")):
        article = read_article_file(path)
        paragraphs.append(article.title)
        paragraphs += [p.strip() for p in article.body.split("\n\n") if p.strip()]
    if not paragraphs:
        raise FileNotFoundError(f"no seed articles in {seeds_dir}")
    return paragraphs


def write_seed_articles(
    folder: Path, n: int, *, seed: int = 4, prefix: str = "article", start: int = 0
) -> list[Path]:
    """Write n distinct articles named `<prefix>-<number>.txt` into `folder`; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    pool = seed_paragraphs()
    paths = []
    for number in range(start, start + n):
        rng = random.Random(seed * 1_000_003 + number)
        body = rng.sample(pool, k=min(len(pool), rng.randint(3, 8)))
        title = f"{rng.choice(pool)[:90].rstrip()} ({prefix} {number})"
        day = 1 + number % 28
        text = f" date 2026-02-{day:02d}\n{title}\n\n" + "\n\n".join(body) + "\n"
        path = folder / f"{prefix}-{number:05d}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
