"""Near-duplicate detection: the same story from several sources is shown (or alerted) once.

Pure. `fingerprint(text)` turns a text into a short serializable signature: the words are
normalized (case, accents, punctuation dropped), cut into overlapping 4-word shingles,
and each shingle is hashed once; the signature keeps the 128 smallest hashes (a bottom-k
MinHash sketch: one hash function instead of 128 permutations, same estimator, far less
work in pure Python) plus the number of shingles.

`similarity(a, b)` is the larger of two estimates:
- Jaccard resemblance |A∩B| / |A∪B|;
- containment |A∩B| / min(|A|, |B|), for texts of at least 40 shingles, so that wire copy
  republished with an extra paragraph, or cut short, still counts as the same story
  (plain Jaccard drops to 0.5 when one copy adds as much as it shares).
Different stories about the same subject share few 4-word sequences and score near 0.
Exact for texts under 128 shingles; otherwise within a few hundredths.

`cluster(items, threshold)` groups items in their given order (rank them first): each
item joins the first group whose leader is similar enough, else leads a new group.
Leaders, not chains: A~B and B~C does not put A with C unless A~C.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import re
import struct
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

__all__ = [
    "DEFAULT_THRESHOLD",
    "article_fingerprint",
    "best_match",
    "cluster",
    "fingerprint",
    "similarity",
]

T = TypeVar("T")
K = TypeVar("K")

DEFAULT_THRESHOLD = 0.5
_SKETCH = 128
_SHINGLE = 4
_MIN_FOR_CONTAINMENT = 40
_VERSION = "m1"
_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORD.findall(plain)


def _hash(shingle: str) -> int:
    digest = hashlib.blake2b(shingle.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _shingle_hashes(text: str) -> set[int]:
    words = _words(text)
    if len(words) < _SHINGLE:
        return {_hash(" ".join(words))} if words else set()
    return {_hash(" ".join(words[i : i + _SHINGLE])) for i in range(len(words) - _SHINGLE + 1)}


def fingerprint(text: str) -> str:
    """A signature of `text`: "m1:<shingle count>:<base64 of up to 128 sorted hashes>".

    Deterministic across processes and versions of Python (no `hash()` salt), so it can be
    stored (deliveries.fingerprint) and compared later. At most ~1.4 kB.
    """
    hashes = _shingle_hashes(text)
    sketch = sorted(heapq.nsmallest(_SKETCH, hashes))
    packed = struct.pack(f">{len(sketch)}Q", *sketch)
    return f"{_VERSION}:{len(hashes)}:{base64.b64encode(packed).decode('ascii')}"


def article_fingerprint(title: str, body: str) -> str:
    """The fingerprint used for articles: the body, which syndication keeps, not the
    headline, which editors rewrite; title and body together when the body is short."""
    text = body if len(_words(body)) >= 20 else f"{title}\n{body}"
    return fingerprint(text)


def _decode(fp: str) -> tuple[int, frozenset[int]]:
    try:
        version, count, packed = fp.split(":", 2)
        raw = base64.b64decode(packed, validate=True)
        if version != _VERSION or len(raw) % 8:
            raise ValueError
        return int(count), frozenset(struct.unpack(f">{len(raw) // 8}Q", raw))
    except (ValueError, struct.error):
        raise ValueError(f"not a fingerprint: {fp[:40]!r}") from None


def _similarity(a: tuple[int, frozenset[int]], b: tuple[int, frozenset[int]]) -> float:
    (count_a, sketch_a), (count_b, sketch_b) = a, b
    if not sketch_a or not sketch_b:
        return 0.0
    # The k smallest hashes of A∪B are among the two sketches; the share of them present
    # in both estimates |A∩B| / |A∪B|.
    union = heapq.nsmallest(_SKETCH, sketch_a | sketch_b)
    both = sketch_a & sketch_b
    jaccard = sum(1 for h in union if h in both) / len(union)
    smaller = min(count_a, count_b)
    if smaller < _MIN_FOR_CONTAINMENT or jaccard == 0.0:
        return jaccard
    # |A∪B| = (|A| + |B|) / (1 + J), hence |A∩B| = J·|A∪B|.
    intersection = jaccard * (count_a + count_b) / (1.0 + jaccard)
    return max(jaccard, min(1.0, intersection / smaller))


def similarity(fp_a: str, fp_b: str) -> float:
    """0.0 (nothing shared) to 1.0 (same text, or one contains the other). ValueError on a
    string that is not a fingerprint."""
    return _similarity(_decode(fp_a), _decode(fp_b))


def cluster(
    items: Sequence[T],
    threshold: float = DEFAULT_THRESHOLD,
    *,
    key: Callable[[T], str] | None = None,
) -> list[list[T]]:
    """Group near-duplicates. Every item lands in exactly one group; groups and the items
    in them keep the input order, so the first item of a group is its best-ranked one.

    `key` gives an item's fingerprint (default: the items are fingerprints).
    """
    leaders: list[tuple[tuple[int, frozenset[int]], list[T]]] = []
    for item in items:
        decoded = _decode(key(item) if key is not None else str(item))
        for leader, group in leaders:
            if _similarity(leader, decoded) >= threshold:
                group.append(item)
                break
        else:
            leaders.append((decoded, [item]))
    return [group for _, group in leaders]


def best_match(
    fp: str, candidates: Iterable[tuple[K, str]], threshold: float = DEFAULT_THRESHOLD
) -> tuple[K, float] | None:
    """The most similar (id, fingerprint) candidate at or above `threshold`, with its score.

    For alerts: pass the fingerprints already alerted to a subscription within the
    dedup window; a hit means "fold into that alert, do not send".
    """
    decoded = _decode(fp)
    best: tuple[K, float] | None = None
    for cid, other in candidates:
        score = _similarity(decoded, _decode(other))
        if score >= threshold and (best is None or score > best[1]):
            best = (cid, score)
    return best
