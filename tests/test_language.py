"""worker.language.detect_language: nl/en/de/fr are recognised, everything else is "other"."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from worker import language
from worker.language import MAX_CHARS, SUPPORTED_LANGUAGES, detect_language

NL = [
    "Leapmotor breidt zijn dealernetwerk in Europa uit en opent dit jaar twintig nieuwe "
    "vestigingen in Nederland en België.",
    "De elektrische SUV van Xiaomi komt in 2027 naar Europa, maar de prijs is nog niet bekend.",
    "Tesla verlaagt de prijzen van de Model Y opnieuw",
    "Nieuwe Kia EV3 getest",
]
EN = [
    "Leapmotor is expanding its dealer network in Europe and will open twenty new showrooms "
    "in the Netherlands this year.",
    "BYD overtook Tesla as the world's largest seller of electric cars in the last quarter.",
    "Ford recalls 200,000 pickups over faulty brakes",
]
DE = [
    "Leapmotor baut sein Händlernetz in Europa aus und eröffnet in diesem Jahr zwanzig neue "
    "Standorte in Deutschland.",
    "Der neue Elektro-SUV von Xiaomi soll 2027 auf den europäischen Markt kommen.",
    "Volkswagen streicht Stellen im Werk Zwickau",
]
FR = [
    "Leapmotor étend son réseau de concessionnaires en Europe et ouvrira vingt nouveaux points "
    "de vente en France cette année.",
    "La voiture électrique de Xiaomi arrivera en Europe en 2027, mais son prix n'est pas "
    "encore connu.",
    "Renault dévoile la nouvelle Twingo électrique",
]
OTHER_LANGUAGES = {
    "pt": "A Leapmotor está a expandir a sua rede de concessionários na Europa e vai abrir vinte "
    "novos pontos de venda em Portugal este ano.",
    "it": "Leapmotor amplia la sua rete di concessionari in Europa e aprirà venti nuovi punti "
    "vendita in Italia quest'anno.",
    "ru": "Leapmotor расширяет дилерскую сеть в Европе и в этом году откроет двадцать новых "
    "салонов в Германии.",
    "es": "Leapmotor amplía su red de concesionarios en Europa y abrirá veinte nuevos puntos de "
    "venta en España este año.",
    # close to Dutch, must still not be called Dutch
    "af": "Die nuwe elektriese motor van Leapmotor is baie gewild in Suid-Afrika en die prys is "
    "laer as verwag.",
}
LABELLED = (
    [(t, "nl") for t in NL]
    + [(t, "en") for t in EN]
    + [(t, "de") for t in DE]
    + [(t, "fr") for t in FR]
)


def test_supported_languages() -> None:
    assert SUPPORTED_LANGUAGES == ("nl", "en", "de", "fr")


@pytest.mark.parametrize(("text", "expected"), LABELLED, ids=lambda v: str(v)[:30])
def test_detects_the_four_languages(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("headline", "expected"),
    [("Directie donderdag:", "nl"), ("Samenvatting FC Utrecht - Feyenoord", "nl")],
)
def test_short_feed_headlines(headline: str, expected: str) -> None:
    # titles of real items in the FC Utrecht feed of the corpus; title-only items are common
    assert detect_language(headline) == expected


@pytest.mark.parametrize("lang", sorted(OTHER_LANGUAGES))
def test_other_languages_are_other(lang: str) -> None:
    assert detect_language(OTHER_LANGUAGES[lang]) == "other"


@pytest.mark.parametrize(
    "text",
    ["", "   \n\t ", "12345 678,90", "!!! ??? ...", "EV", "https://www.example.com/nieuws/auto"],
    ids=["empty", "whitespace", "digits", "punctuation", "two-letters", "bare-url"],
)
def test_no_signal_is_other(text: str) -> None:
    assert detect_language(text) == "other"


def _seed_files(repo_root: Path) -> list[Path]:
    return sorted((repo_root / "seeds").glob("*.txt"))


def test_there_are_four_seeds(repo_root: Path) -> None:
    assert len(_seed_files(repo_root)) == 4


@pytest.mark.parametrize("index", range(4))
def test_seed_articles_are_dutch(repo_root: Path, index: int) -> None:
    seed = _seed_files(repo_root)[index]
    assert detect_language(seed.read_text(encoding="utf-8")) == "nl", seed.name


@pytest.mark.parametrize(
    "junk",
    ["\x00", "\x0b", "\x1f", "\x7f", "\x85", "\ud800", "\udfff", "\ufdd0", "\ufffe", "\U0010ffff"],
    ids=repr,
)
def test_characters_cld2_refuses_do_not_break_detection(junk: str) -> None:
    text = f"{NL[0]} {junk} {NL[1]}"
    assert detect_language(text) == "nl"


def test_urls_and_email_addresses_are_ignored() -> None:
    noise = " ".join(
        f"https://www.example.com/category/technology/electric-vehicles/{i} press{i}@example.com"
        for i in range(30)
    )
    assert detect_language(f"{noise} {NL[2]}") == "nl"


def test_only_the_first_max_chars_are_used() -> None:
    dutch = (NL[0] + " ") * (MAX_CHARS // len(NL[0]) + 1)
    english = (EN[0] + " ") * (3 * MAX_CHARS // len(EN[0]))
    assert len(dutch) >= MAX_CHARS
    assert detect_language(english) == "en"
    assert detect_language(dutch + english) == "nl"


def test_concurrent_first_use_loads_once_and_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(language, "_cld2", None)
    texts = [t for t, _ in LABELLED] * 20
    with ThreadPoolExecutor(max_workers=16) as pool:
        got = list(pool.map(detect_language, texts))
    assert got == [label for _, label in LABELLED] * 20
    assert language._cld2 is not None
