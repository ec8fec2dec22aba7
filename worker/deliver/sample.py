"""Sample digest data: what `newswatch check` renders every template against, and what the
README screenshot shows. Invented articles (example.com-style sources), realistic shape:
three watchlists, one story syndicated by three outlets, one watchlist with nothing new.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

from worker.deliver.digest import Digest, DigestEntry, build_digest
from worker.deliver.schedule import Period, latest_period
from worker.deliver.subscriptions import Subscription
from worker.models import Highlight

__all__ = ["sample_digest", "sample_entries", "sample_period", "sample_subscription"]

_WATCHLISTS = {
    "eu-expansion": "Non-European car brands expanding in Europe",
    "leapmotor": "Leapmotor",
    "after-sales": "After-sales of the brands we follow",
    "ev-tariffs": "EU tariffs on Chinese EVs",
}

_LEAPMOTOR = (
    "Leapmotor International, the joint venture between Stellantis and the Chinese carmaker "
    "Leapmotor, will more than double its European sales points this year. From April the "
    "brand's cars will be sold and serviced by Stellantis dealers in twelve more countries, "
    "bringing the network to about 850 outlets across Europe. The expansion leans on the "
    "existing dealer network rather than new stores, which keeps costs down and gets cars "
    "to customers faster, a spokesperson said. Leapmotor expects European deliveries of the "
    "T03 city car and the C10 SUV to triple, helped by stock now held in a warehouse near "
    "Zaragoza instead of being shipped to order from China. The B10 compact SUV follows in "
    "the summer, with prices starting below 30,000 euros. Analysts see the partnership as "
    "the quickest route into Europe for a Chinese newcomer: parts, warranty work and "
    "financing all run through systems that dealers already know."
)
_LEAPMOTOR_EXTRA = (
    "\n\nIn the Netherlands the first dealers to take the brand will be in Utrecht, "
    "Eindhoven and Rotterdam, the importer confirmed on Tuesday."
)

_ARTICLES: list[tuple[str, str, str, str, str, float, str, tuple[str, ...]]] = [
    # (watchlist, title, source, url, published, score, body, terms)
    (
        "eu-expansion",
        "Leapmotor to double European sales points through Stellantis dealers",
        "EV Wire",
        "https://evwire.example/2026/11/leapmotor-europe-dealers",
        "2026-11-18T09:12:00Z",
        8.4,
        _LEAPMOTOR,
        ("Leapmotor", "European", "Europe", "dealer network", "dealers"),
    ),
    (
        "eu-expansion",
        "Stellantis network to carry Leapmotor in twelve more countries",
        "Fleet Europe Daily",
        "https://fleet-daily.example/news/stellantis-leapmotor-network",
        "2026-11-18T11:40:00Z",
        8.1,
        _LEAPMOTOR + _LEAPMOTOR_EXTRA,
        ("Leapmotor", "European", "Europe", "dealers"),
    ),
    (
        "eu-expansion",
        "Leapmotor versnelt Europese uitrol",
        "Autoblad",
        "https://autoblad.example/leapmotor-europa",
        "2026-11-19",
        7.9,
        _LEAPMOTOR.replace("this year", "in 2026"),
        ("Leapmotor", "European", "Europe", "dealers"),
    ),
    (
        "eu-expansion",
        "BYD starts production in Szeged months ahead of schedule",
        "Central European Business Review",
        "https://cebr.example/byd-szeged-production",
        "2026-11-17T07:30:00Z",
        6.1,
        "BYD has started series production at its plant in Szeged, Hungary, the first "
        "European factory of a Chinese carmaker, several months earlier than planned. The "
        "plant will build the Dolphin Surf and the Atto 2 for European markets, with a "
        "capacity of 150,000 cars a year in the first phase. Local production lets BYD avoid "
        "the EU's countervailing duties on cars imported from China and shortens delivery "
        "times to dealers in Germany, Italy and France.",
        ("BYD", "European", "Hungary", "dealers"),
    ),
    (
        "eu-expansion",
        "Xpeng picks Munich for its European research centre",
        "Motor Tech Weekly",
        "https://motortech.example/xpeng-munich",
        "2026-11-20",
        4.7,
        "Xpeng will open a research and development centre in Munich next year, employing "
        "up to 300 engineers to adapt its driver-assistance software and chassis tuning to "
        "European roads and regulations. The company sells cars in eleven European "
        "countries and plans to enter Spain and Portugal in 2027.",
        ("Xpeng", "European"),
    ),
    (
        "leapmotor",
        "Leapmotor B10 first drive: a compact SUV that undercuts its rivals",
        "Nordic Motor Journal",
        "https://nordicmotor.example/tests/leapmotor-b10",
        "2026-11-21T16:05:00Z",
        5.2,
        "The B10 is the third Leapmotor to reach Europe and the most convincing so far. On "
        "Swedish winter roads the rear-wheel-drive SUV rides comfortably, its heat pump keeps "
        "the range loss moderate and the 67 kWh battery charges from 10 to 80 percent in "
        "about 20 minutes. At 29,900 euros it costs several thousand less than a Skoda Elroq "
        "or a Kia EV3 with similar equipment, though the infotainment still feels unfinished.",
        ("Leapmotor", "B10"),
    ),
    (
        "after-sales",
        "BYD promises 48-hour parts delivery to European dealers",
        "The Dealer Report",
        "https://dealerreport.example/byd-parts-48h",
        "2026-11-19T08:00:00Z",
        5.5,
        "BYD says its new parts centre near Venlo can deliver 95 percent of spare parts to "
        "any European dealer within 48 hours. Slow parts supply and long repair times have "
        "been the most common complaint of fleet managers about Chinese brands; insurers "
        "have priced some models higher because body repairs took weeks. The warehouse "
        "stocks 30,000 part numbers and serves workshops in 19 countries.",
        ("BYD", "parts", "spare parts", "dealer", "repair"),
    ),
    (
        "after-sales",
        "Tesla extends service centre opening hours across the Benelux",
        "EV Wire",
        "https://evwire.example/2026/11/tesla-service-benelux",
        "2026-11-16",
        3.2,
        "Tesla will open its service centres in Belgium, the Netherlands and Luxembourg on "
        "Saturdays and until 21:00 on weekdays, after waiting times for appointments rose "
        "to three weeks this autumn. Mobile service vans will handle more tyre changes and "
        "minor repairs at customers' homes.",
        ("Tesla", "service", "repairs"),
    ),
]


def _highlights(body: str, terms: tuple[str, ...]) -> tuple[Highlight, ...]:
    found = []
    for term in terms:
        for m in re.finditer(rf"\b{re.escape(term)}\b", body):
            found.append(Highlight("body", m.start(), m.end(), m.group(0), term))
    return tuple(sorted(found, key=lambda h: h.start))


def sample_subscription() -> Subscription:
    return Subscription(
        id="sales-team-weekly",
        watchlists=("eu-expansion", "leapmotor", "after-sales", "ev-tariffs"),
        channel="email",
        target="analyst@example.com",
        schedule="weekly",
        day=0,
        time=time(8, 0),
        timezone="Europe/Amsterdam",
    )


def sample_period() -> Period:
    return latest_period(sample_subscription(), datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


def sample_entries() -> list[DigestEntry]:
    entries = [
        DigestEntry(
            watchlist_id=wid,
            watchlist_name=_WATCHLISTS[wid],
            title=title,
            url=url,
            source=source,
            published=published,
            score=score,
            highlights=_highlights(body, terms),
            body=body,
            article_id=i + 1,
        )
        for i, (wid, title, source, url, published, score, body, terms) in enumerate(_ARTICLES)
    ]
    # The Leapmotor story also matches the leapmotor watchlist.
    lead = entries[0]
    entries.append(
        DigestEntry(
            "leapmotor",
            _WATCHLISTS["leapmotor"],
            lead.title,
            lead.url,
            lead.source,
            lead.published,
            4.9,
            lead.highlights,
            lead.body,
            lead.article_id,
        )
    )
    return entries


def sample_digest() -> Digest:
    return build_digest(sample_subscription(), sample_period(), sample_entries())


def sample_watchlist_names() -> dict[str, str]:
    return dict(_WATCHLISTS)
