"""URL identity: canonical form, site membership and WordPress post ids found in URLs."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING = re.compile(r"^(utm_|fbclid$|gclid$|mc_)")


def canonical_url(url: str, base_url: str | None = None) -> str:
    """One spelling per page: https if the site is https, lower-case host, trailing slash, no fragment or utm_*.

    >>> canonical_url("HTTP://www.Example.org/news/a?utm_source=x#top", "https://example.org")
    'https://example.org/news/a/'
    """
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower() or "https", (parts.hostname or "").lower()
    port = parts.port
    if base_url:
        base = urlsplit(base_url)
        if host.removeprefix("www.") == (base.hostname or "").removeprefix("www.") and port == base.port:
            scheme, host = base.scheme, base.hostname or host
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    path = parts.path or "/"
    if not path.endswith("/") and "." not in path.rsplit("/", 1)[-1]:
        path += "/"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    )
    return urlunsplit((scheme, netloc, path, query, ""))


def origin_of(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.hostname or "").lower(), parts.port or default


def same_site(url: str, base_url: str, host_aliases: tuple[str, ...] = ()) -> bool:
    """True only for the configured host and port (or a declared alias host); never another port or host."""
    host, port = origin_of(url)
    base_host, base_port = origin_of(base_url)
    if urlsplit(url).scheme not in ("http", "https"):
        return False
    if host == base_host:
        # http<->https upgrades of the site itself are fine; another port on the same host is not.
        return port == base_port or {port, base_port} == {80, 443}
    return host in host_aliases and port in (80, 443)


def post_id_from_url(url: str) -> int | None:
    """WordPress shortlinks and RSS guids: ``https://site/?p=123``."""
    for key, value in parse_qsl(urlsplit(url).query):
        if key == "p" and value.isdigit():
            return int(value)
    return None


def path_of(url: str) -> str:
    return urlsplit(url).path or "/"
