"""Canonical article URLs: the identity an article keeps however a feed links to it.

`canonical_url` takes any string and returns a string; it never raises and is idempotent.
It only rewrites what does not change which article a link means: scheme and host case,
default ports, an empty http(s) path, percent-escape case, the fragment, tracking parameters
and the order of query parameters. Everything else (path, parameter values, their encoding)
is kept byte for byte, because servers are free to treat `?a+b` and `?a%20b` differently.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urlsplit

__all__ = ["TRACKING_PARAMS", "canonical_url"]

# Query parameters that only say who sent the click. Compared case-insensitively;
# every parameter starting with "utm_" is dropped as well.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "igshid",
        "mc_cid",
        "mc_eid",
        "ref_src",
        "ref_url",
        "_hsenc",
        "_hsmi",
        "__hssc",
        "__hstc",
        "__hsfp",
        "hsctatracking",
        "mkt_tok",
        "vero_id",
        "vero_conv",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "s_cid",
        "wickedid",
        "_openstat",
        "__twitter_impression",
    }
)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_C0_OR_SPACE = "".join(map(chr, range(0x21)))


def canonical_url(url: str) -> str:
    """Return the canonical form of `url`, used as an article's identity.

    Lowercases scheme and host, drops the default port, the fragment and tracking
    parameters (utm_*, fbclid, gclid, mc_cid, ...), sorts the remaining query parameters
    by name (values of a repeated name keep their order), uppercases percent-escapes and
    gives an empty http(s) path "/". Idempotent. A string that does not parse as a URL
    comes back stripped of surrounding whitespace and control characters.
    """
    text = _strip(url)
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return text
    scheme = parts.scheme.lower()
    netloc = _canonical_netloc(parts.netloc, scheme)
    path = _upper_escapes(parts.path)
    if not path and netloc and scheme in _DEFAULT_PORTS:
        path = "/"
    query = _canonical_query(parts.query)
    # Assembled by hand: urlunsplit turns "http:////a" into "http://a", another URL.
    has_authority = (text[len(scheme) + 1 :] if scheme else text).startswith("//")
    result = "".join(
        (
            f"{scheme}:" if scheme else "",
            f"//{netloc}" if has_authority else "",
            path,
            f"?{query}" if query else "",
        )
    )
    stripped = _strip(result)
    # Dropping "?" or "#..." can leave a space at the end; go again on the shorter string.
    return result if stripped == result else canonical_url(stripped)


def _strip(text: str) -> str:
    """Strip whitespace and C0 controls (urlsplit drops the latter) until neither is left."""
    while (stripped := text.strip().strip(_C0_OR_SPACE)) != text:
        text = stripped
    return text


def _canonical_netloc(netloc: str, scheme: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    host, port = hostport, ""
    # A ":" after the closing "]" of an IPv6 literal, or the only ":" otherwise, starts the port.
    colon = hostport.rfind(":")
    if colon > hostport.rfind("]"):
        host, port = hostport[:colon], hostport[colon + 1 :]
    if port == "" or (port.isdigit() and int(port) == _DEFAULT_PORTS.get(scheme)):
        port_part = ""
    else:
        port_part = ":" + port
    return f"{userinfo}{at}{host.lower()}{port_part}"


def _canonical_query(query: str) -> str:
    kept: list[tuple[str, str]] = []
    for segment in query.split("&"):
        if not segment:
            continue
        name = unquote_plus(segment.partition("=")[0])
        if name.lower().startswith("utm_") or name.lower() in TRACKING_PARAMS:
            continue
        kept.append((name, _upper_escapes(segment)))
    kept.sort(key=lambda pair: pair[0])  # stable: values of a repeated name keep their order
    return "&".join(segment for _, segment in kept)


def _upper_escapes(text: str) -> str:
    return _PERCENT_ESCAPE.sub(lambda m: m.group(0).upper(), text)
