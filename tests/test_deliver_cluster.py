"""Near-duplicates: syndicated wire copy clusters, different stories on one subject do not."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.deliver.cluster import (
    DEFAULT_THRESHOLD,
    article_fingerprint,
    best_match,
    cluster,
    fingerprint,
    similarity,
)
from worker.sources.files import read_article_file

WIRE = (
    "BRUSSELS, Nov 18 - The European Commission on Tuesday opened an investigation into "
    "whether Chinese carmaker BYD received subsidies that distort competition for its new "
    "plant in Hungary, the first such probe under the bloc's foreign subsidies rules to "
    "target a car factory. The Commission said it had reason to believe that the Szeged "
    "plant benefited from state support in China that allowed BYD to submit an offer "
    "below market prices for the land and grid connection. BYD said it would cooperate "
    "fully with the investigation and that the plant had been built on commercial terms. "
    "Hungary's foreign minister called the probe unjustified and warned that it would "
    "deter investment in Europe at a time when the car industry needs new jobs. The plant "
    "is due to build up to 150,000 electric cars a year from next spring, rising to "
    "300,000 later in the decade. The investigation can last up to 18 months and could "
    "force BYD to repay subsidies or offer commitments on prices and capacity. European "
    "carmakers have long complained that Chinese rivals benefit from cheap loans, land "
    "and batteries, and the bloc already imposes extra tariffs of up to 35 percent on "
    "electric cars imported from China."
)

# The same wire story as other outlets publish it.
SYNDICATED = {
    "new headline and a local paragraph": (
        WIRE + "\n\nIn the Netherlands, importers of Chinese brands said they did not expect "
        "the probe to affect prices of cars already on order."
    ),
    "lightly edited": (
        WIRE.replace("on Tuesday", "yesterday")
        .replace("called the probe unjustified", "called the investigation unjustified")
        .replace("up to 35 percent", "as much as 35%")
        .replace("BRUSSELS, Nov 18 - ", "")
    ),
    "cut after six sentences": ". ".join(WIRE.split(". ")[:6]) + ".",
}

# Different stories about the same subject, with much of the same vocabulary.
OTHER_STORIES = [
    "BYD has started series production at its plant in Szeged, Hungary, months earlier than "
    "planned. The factory will build the Dolphin Surf and the Atto 2 for European markets "
    "and can make 150,000 cars a year in its first phase. Local production lets BYD avoid "
    "the extra tariffs the European Union imposes on electric cars imported from China, "
    "and shortens delivery times to dealers in Germany, Italy and France. The company is "
    "also looking for a site for a third European plant.",
    "The European Commission has approved Hungarian state aid of 100 million euros for a "
    "battery recycling plant near Debrecen. Brussels said the support was necessary and "
    "proportionate and would help the bloc recover lithium, nickel and cobalt from used "
    "electric car batteries. Hungary has attracted several Chinese battery makers in "
    "recent years, including CATL, whose factory in Debrecen will supply carmakers "
    "across Europe.",
    "Chinese carmakers sold more electric cars in Europe than ever in October, according "
    "to market researchers. BYD doubled its registrations compared with a year earlier, "
    "while MG and Leapmotor also grew strongly despite the tariffs the European Union "
    "introduced last year. Analysts expect local production in Hungary and Turkey to "
    "make Chinese brands even more competitive on price.",
]


def seed_bodies(repo_root: Path) -> list[str]:
    return [read_article_file(p).body for p in sorted((repo_root / "seeds").glob("*.txt"))]


def test_identical_texts_score_one_and_the_fingerprint_is_deterministic() -> None:
    assert fingerprint(WIRE) == fingerprint(WIRE)
    assert similarity(fingerprint(WIRE), fingerprint(WIRE)) == 1.0
    assert fingerprint(WIRE).startswith("m1:")
    assert len(fingerprint(WIRE * 20)) < 1500  # bounded, whatever the length of the text


def test_case_accents_and_punctuation_do_not_matter() -> None:
    plain = "Leapmotor expands its dealer network across Europe with Stellantis"
    noisy = "LEAPMOTOR expands its dealer-network, across Europe (with Stellantis)!"
    assert similarity(fingerprint(plain), fingerprint(noisy)) == 1.0
    assert (
        similarity(fingerprint("Citroën ë-C3 déjà vu"), fingerprint("citroen e c3 deja vu")) == 1.0
    )


@pytest.mark.parametrize("variant", sorted(SYNDICATED))
def test_syndicated_copies_are_near_duplicates(variant: str) -> None:
    score = similarity(fingerprint(WIRE), fingerprint(SYNDICATED[variant]))
    assert score >= 0.7, (variant, score)


def test_different_stories_on_the_same_subject_are_not(repo_root: Path) -> None:
    texts = [WIRE, *OTHER_STORIES, *seed_bodies(repo_root)]
    fps = [fingerprint(t) for t in texts]
    for i in range(len(fps)):
        for j in range(i + 1, len(fps)):
            score = similarity(fps[i], fps[j])
            assert score < 0.2, (i, j, score)


def test_the_headline_is_left_out_of_article_fingerprints() -> None:
    a = article_fingerprint("EU opens subsidy probe into BYD's Hungarian plant", WIRE)
    b = article_fingerprint("Brussels targets BYD factory in Szeged", WIRE)
    assert a == b
    short_a = article_fingerprint("BYD probe", "Brussels opens a probe.")
    short_b = article_fingerprint("Xpeng in Munich", "Brussels opens a probe.")
    assert short_a != short_b  # a short body is not enough to tell stories apart


def test_cluster_groups_copies_under_the_first_ranked_item(repo_root: Path) -> None:
    items = [
        ("a-wire", WIRE),
        ("b-other", OTHER_STORIES[0]),
        *((f"c-{name}", text) for name, text in sorted(SYNDICATED.items())),
        ("d-other", OTHER_STORIES[1]),
        ("e-seed", seed_bodies(repo_root)[0]),
    ]
    fps = {name: fingerprint(text) for name, text in items}
    groups = cluster([name for name, _ in items], key=fps.__getitem__)
    assert groups == [
        ["a-wire", *(f"c-{name}" for name in sorted(SYNDICATED))],
        ["b-other"],
        ["d-other"],
        ["e-seed"],
    ]
    # Without a key the items are the fingerprints themselves.
    assert len(cluster(list(fps.values()))) == 4
    assert cluster([]) == []


def test_cluster_uses_leaders_not_chains() -> None:
    words = [f"w{i}" for i in range(300)]
    a = " ".join(words[:200])
    b = " ".join(words[50:250])  # shares 150 of 200 words with a, and with c
    c = " ".join(words[100:300])  # shares only 100 with a
    groups = cluster([fingerprint(a), fingerprint(b), fingerprint(c)], threshold=0.7)
    assert [len(g) for g in groups] == [2, 1]


def test_best_match_finds_the_alert_to_fold_into() -> None:
    earlier = [(1, fingerprint(OTHER_STORIES[0])), (2, fingerprint(WIRE)), (3, fingerprint(""))]
    hit = best_match(fingerprint(SYNDICATED["lightly edited"]), earlier)
    assert hit is not None and hit[0] == 2 and hit[1] >= DEFAULT_THRESHOLD
    assert best_match(fingerprint(OTHER_STORIES[2]), earlier) is None
    assert best_match(fingerprint(WIRE), []) is None


def test_empty_text_is_similar_to_nothing() -> None:
    assert similarity(fingerprint(""), fingerprint("")) == 0.0
    assert similarity(fingerprint(""), fingerprint(WIRE)) == 0.0


@pytest.mark.parametrize("bad", ["", "m1:3", "m2:1:AAAAAAAAAAA=", "m1:1:not base64!", "m1:1:AAA="])
def test_a_string_that_is_not_a_fingerprint_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="not a fingerprint"):
        similarity(bad, fingerprint(WIRE))


@given(st.text(max_size=400), st.text(max_size=400))
def test_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    fa, fb = fingerprint(a), fingerprint(b)
    score = similarity(fa, fb)
    assert 0.0 <= score <= 1.0
    assert score == similarity(fb, fa)
