"""canonical_url: one identity per article, whatever tracking a link carries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.urls import canonical_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # tracking parameters go, the rest is sorted by name
        (
            "https://example.com/a?utm_source=rss&utm_medium=feed&b=2&a=1&UTM_Campaign=x",
            "https://example.com/a?a=1&b=2",
        ),
        ("https://example.com/a?fbclid=abc&gclid=def&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?mc_cid=1&mc_eid=2&igshid=3&ref_src=twsrc", "https://example.com/a"),
        # scheme and host lowercased, default port, fragment and empty path
        ("HTTPS://News.Example.COM:443/Story#comments", "https://news.example.com/Story"),
        ("http://Example.com:80", "http://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("https://example.com:80/x", "https://example.com:80/x"),
        # the path keeps its case and encoding; percent-escapes are uppercased
        ("https://example.com/A%2fb/C?q=%e2%82%ac", "https://example.com/A%2Fb/C?q=%E2%82%AC"),
        # repeated names keep their order; values keep their encoding; bare keys stay bare
        ("https://example.com/?b=2&a=z&a=y&c", "https://example.com/?a=z&a=y&b=2&c"),
        ("https://example.com/?q=a+b&p=a%20b", "https://example.com/?p=a%20b&q=a+b"),
        # credentials and IPv6 literals survive
        ("http://User:Pw@[2001:DB8::1]:80/p", "http://User:Pw@[2001:db8::1]/p"),
        ("  https://example.com/x?  ", "https://example.com/x"),
        # not a URL: returned stripped, never an exception
        ("not a url", "not a url"),
        ("http://[oops", "http://[oops"),
        ("", ""),
        # an empty authority is kept: "http:////a" is not "http://a"
        ("http:////a", "http:////a"),
        ("////a?b=1&a", "////a?a&b=1"),
        ("file:///tmp/x", "file:///tmp/x"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_tracking_free_urls_are_unchanged() -> None:
    url = "https://www.theguardian.com/world/2024/jan/01/story?page=2"
    assert canonical_url(url) == url


def test_equivalent_links_share_one_identity() -> None:
    links = [
        "https://example.com/story?id=5&utm_source=twitter",
        "HTTPS://EXAMPLE.com:443/story?utm_campaign=x&id=5#top",
        "https://example.com/story?fbclid=IwAR0&id=5",
    ]
    assert {canonical_url(link) for link in links} == {"https://example.com/story?id=5"}


_url_parts = st.builds(
    "{}://{}{}{}{}{}".format,
    st.sampled_from(["http", "HTTPS", "ftp"]),
    st.sampled_from(["Example.com", "a.b", "[::1]", "u@h.org"]),
    st.sampled_from(["", ":80", ":443", ":8080", ":"]),
    st.text(alphabet="/aZ%2f.", max_size=8),
    st.lists(
        st.sampled_from(["a=1", "utm_x=2", "b", "A=%2f", "fbclid=z", "", "a=0"]), max_size=5
    ).map(lambda params: "?" + "&".join(params) if params else ""),
    st.sampled_from(["", "#frag", "#"]),
)


@given(st.one_of(_url_parts, st.text(max_size=40), st.text(alphabet=":/?#&=@[]aA%2 ", max_size=20)))
def test_canonical_url_is_idempotent_and_never_raises(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


@given(_url_parts)
def test_canonical_url_leaves_no_tracking_and_sorted_params(url: str) -> None:
    query = canonical_url(url).partition("?")[2]
    names = [segment.partition("=")[0] for segment in query.split("&") if segment]
    assert not any(n.lower().startswith("utm_") or n == "fbclid" for n in names)
    assert names == sorted(names)
    assert "#" not in canonical_url(url)
