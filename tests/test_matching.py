"""Term, lemma, wildcard, phrase, proximity and field matching in nl, en, de and fr."""

from __future__ import annotations

import pytest

from tests.support.watchlists import matcher_from, matches, query_matcher
from worker.models import Article


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        # lemmas: the query's word matches inflected forms through the token's lemma
        ("dealer", "Leapmotor opent nieuwe dealers in Utrecht en Amsterdam.", True),
        ("car", "BYD sold more cars than Tesla in Europe last quarter.", True),
        ("Händler", "Die Marke sucht neue Händlern in ganz Deutschland für den Verkauf.", True),
        ("voiture", "Les voitures électriques chinoises arrivent en France cette année.", True),
        # wildcards for compounds
        ("*dealer*", "Het merkdealernetwerk van Stellantis groeit in Nederland.", True),
        ("*händler*", "Das Autohändlernetz in Bayern wird erweitert und modernisiert.", True),
        ("dealer*", "Xiaomi zoekt dealerbedrijven in Europa voor de verkoop.", True),
        ("*netwerk", "Het dealernetwerk van het merk groeit snel in Europa.", True),
        ("concession*", "Le constructeur ouvre des concessionnaires à Lyon et Paris.", True),
        # accents and case fold both ways
        ("Europese", "De EUROPESE markt is het doel van het merk.", True),
        ("marche", "Le marché européen est la cible de la marque chinoise.", True),
        ("réparation", "Die Reparation ist teuer.", True),
        # not found
        ("dealer", "De garage verkoopt tweedehands fietsen aan studenten.", False),
        ("*dealer*", "De garage verkoopt tweedehands fietsen aan studenten.", False),
    ],
)
def test_terms_lemmas_and_wildcards(query: str, text: str, expected: bool) -> None:
    assert (matches(query_matcher(query), text) == ["q"]) is expected


def test_simplemma_errors_are_covered_by_matching_surface_too() -> None:
    # simplemma lemmatizes Dutch "merk" to "merken"; the surface still matches "merk".
    assert matches(query_matcher("merk"), "Het Chinese merk komt naar Nederland.") == ["q"]


def test_case_sensitive_term() -> None:
    m = query_matcher("{BYD}")
    assert matches(m, "BYD opent een fabriek in Hongarije.") == ["q"]
    assert matches(m, "byd is geen merk in deze zin.") == []


def test_boolean_operators() -> None:
    m = query_matcher("(dealer* OR showroom*) AND Europ* -occasion*")
    assert matches(m, "Nieuwe showrooms in Europa voor het merk.") == ["q"]
    assert matches(m, "Nieuwe showrooms in Azië voor het merk.") == []
    assert matches(m, "Nieuwe showrooms in Europa met occasions.") == []


def test_phrase_needs_adjacent_tokens() -> None:
    m = query_matcher('"mobile service"')
    assert matches(m, "Tesla mobile service comes to your driveway.") == ["q"]
    assert matches(m, "A mobile phone service for customers.") == []


def test_near_either_order_within_distance() -> None:
    m = query_matcher("Leapmotor NEAR/4 Stellantis")
    assert matches(m, "Stellantis en Leapmotor werken samen aan de verkoop.") == ["q"]
    assert matches(m, "Leapmotor werkt samen met Stellantis.") == ["q"]
    far = "Leapmotor is een merk uit China dat heel veel auto's maakt voor Stellantis."
    assert matches(m, far) == []


def test_fields_title_and_body() -> None:
    m = query_matcher("title:occasion*")
    assert matches(m, "tekst", title="Occasions van BYD") == ["q"]
    assert matches(m, "Occasions van BYD", title="Nieuws") == []
    body_only = query_matcher("body:BYD")
    assert matches(body_only, "nieuws", title="BYD") == []


def test_lang_and_source_fields() -> None:
    nl = query_matcher("auto lang:nl")
    assert matches(nl, "De nieuwe auto van het Chinese merk komt volgend jaar naar Nederland.") == [
        "q"
    ]
    assert (
        matches(nl, "The new auto of the Chinese brand comes to the Netherlands next year.") == []
    )
    src = query_matcher("auto source:autoweek*")
    assert matches(src, "auto", source="Autoweek NL") == ["q"]
    assert matches(src, "auto", source="autoweek") == ["q"]
    assert matches(src, "auto", source="carscoops") == []


BRANDS = """
version: 1
brands:
  tesla:
    name: Tesla
    aliases: ["{Tesla}"]
    models: ["Model Y", "Model 3"]
    exclude: ["Nikola Tesla"]
  xiaomi-auto:
    name: Xiaomi (cars)
    aliases: [Xiaomi]
    models: [SU7, YU7]
    require_near: [auto, car*, EV, elektrisch*, sedan, SUV]
    window: 10
watchlists:
  tesla: {brands: [tesla]}
  xiaomi: {brands: [xiaomi-auto]}
"""


def test_nikola_tesla_is_not_the_brand() -> None:
    m = matcher_from(BRANDS)
    assert matches(m, "Nikola Tesla was a Serbian-American inventor of the AC motor.") == []
    assert matches(m, "Tesla cuts prices in Germany.") == ["tesla"]
    assert matches(m, "The tesla is the SI unit of magnetic flux density.") == []
    # a model always counts, even without the brand name
    assert matches(m, "The Model Y was the best selling car in Norway.") == ["tesla"]
    # an excluded mention does not hide a real one in the same article
    both = "Nikola Tesla would be proud. Tesla opens a showroom in Oslo."
    assert matches(m, both) == ["tesla"]


def test_xiaomi_phones_are_not_xiaomi_cars() -> None:
    m = matcher_from(BRANDS)
    assert (
        matches(m, "Xiaomi presenteert een nieuwe smartphone met een betere camera en batterij.")
        == []
    )
    assert matches(m, "Xiaomi launches a phone; the robot vacuum gets an update.") == []
    assert matches(m, "Xiaomi brengt zijn elektrische auto naar Europa.") == ["xiaomi"]
    assert matches(m, "De SU7 is een snelle sedan.") == ["xiaomi"]
    far = "Xiaomi " + "woord " * 20 + "en een auto."
    assert matches(m, far) == []


def test_score_title_weighs_more_and_highlights_point_at_text() -> None:
    m = query_matcher("Leapmotor")
    in_title = m.classify(Article(title="Leapmotor komt", body="tekst"))[0]
    in_body = m.classify(Article(title="Nieuws", body="Leapmotor komt"))[0]
    assert in_title.score > in_body.score
    h = in_body.highlights[0]
    assert (h.field, h.start, h.end, h.text) == ("body", 0, 9, "Leapmotor")


def test_more_distinct_terms_and_closer_hits_score_higher() -> None:
    m = query_matcher("dealer* OR showroom* OR Europa")
    one = m.classify(Article(title="", body="Een dealer in Utrecht."))[0].score
    two = m.classify(Article(title="", body="Een dealer en een showroom in Utrecht."))[0].score
    assert two > one
    n = query_matcher("dealer AND Europa")
    close = n.classify(Article(title="", body="dealer Europa"))[0].score
    far = n.classify(Article(title="", body="dealer " + "x " * 30 + "Europa"))[0].score
    assert close > far


def test_min_score_and_languages_filter() -> None:
    m = matcher_from("""
    version: 1
    watchlists:
      strict: {query: "dealer", min_score: 2.0}
      english: {query: "dealer", languages: [en]}
    """)
    assert matches(m, "The new dealer in Manchester opened its doors today for customers.") == [
        "english"
    ]
    assert matches(m, "dealer " * 10 + "in Manchester, the dealer network grows.") == [
        "english",
        "strict",
    ]


def test_results_are_deterministic_order() -> None:
    m = matcher_from("""
    version: 1
    watchlists:
      b: {query: "auto"}
      a: {query: "auto"}
      c: {query: "auto OR extra"}
    """)
    article = Article(title="auto", body="auto extra")
    result = [(x.watchlist, x.score) for x in m.classify(article)]
    assert [w for w, _ in result] == ["c", "a", "b"]  # highest score first, then by id
    assert result[0][1] > result[1][1] == result[2][1]
    assert [x.to_dict() for x in m.classify(article)] == [x.to_dict() for x in m.classify(article)]
