"""URL identity: canonical form, site membership and WordPress post ids (found in URLs or anywhere else).

URLs come from untrusted pages and feeds, so a malformed one (``http://[x``, port 99999) must never end a
callback. Functions that answer a question degrade: ``same_site`` says False, ``origin_of`` and
``post_id_param`` say None. Functions that must produce a URL-derived value (``canonical_url``, ``path_of``)
raise ``BadUrl`` (a ``ValueError``) rather than invent one: callers skip that one value and record why.
"""

from __future__ import annotations

import json
import re
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING = re.compile(r"^(utm_|fbclid$|gclid$|mc_)")


class BadUrl(ValueError):
    """A URL that cannot be parsed (bad port, broken IPv6 brackets, not a string): skip it, never guess."""


def _split(url: object) -> SplitResult:
    """``urlsplit`` that also checks the port, raising only ``BadUrl``."""
    if not isinstance(url, str):
        raise BadUrl(f"not a URL: {show_bad_id(url)}")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise BadUrl(f"bad URL {show_bad_id(url)}: {exc}") from None
    return parts


def canonical_url(url: str, base_url: str | None = None) -> str:
    """One spelling per page: https if the site is https, lower-case host, trailing slash, no fragment or utm_*.

    Raises ``BadUrl`` for a URL that cannot be parsed.

    >>> canonical_url("HTTP://www.Example.org/news/a?utm_source=x#top", "https://example.org")
    'https://example.org/news/a/'
    >>> try:
    ...     canonical_url("http://127.0.0.1:99999/")
    ... except BadUrl as exc:
    ...     print(exc)
    bad URL "http://127.0.0.1:99999/": Port out of range 0-65535
    """
    parts = _split(url)
    scheme, host = parts.scheme.lower() or "https", (parts.hostname or "").lower()
    port = parts.port
    if base_url:
        base = _split(base_url)
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


def origin_of(url: str) -> tuple[str, int | None] | None:
    """(lower-case host, port or the scheme's default), or None for a URL that cannot be parsed."""
    try:
        parts = _split(url)
    except BadUrl:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.hostname or "").lower(), parts.port or default


def same_site(url: str, base_url: str, host_aliases: tuple[str, ...] = ()) -> bool:
    """True only for the configured host and port (or a declared alias host); never another port or host.

    >>> [same_site(u, "https://x.org") for u in ("https://x.org/a/", "http://[x", "http://x.org:99999/")]
    [True, False, False]
    """
    origin, base_origin = origin_of(url), origin_of(base_url)
    if origin is None or base_origin is None or _split(url).scheme not in ("http", "https"):
        return False
    (host, port), (base_host, base_port) = origin, base_origin
    if host == base_host:
        # http<->https upgrades of the site itself are fine; another port on the same host is not.
        return port == base_port or {port, base_port} == {80, 443}
    return host in host_aliases and port in (80, 443)


MAX_POST_ID = 2**63 - 1  # the archive's ids are signed 64-bit (msgspec PostId, Parquet int64)
_MAX_DIGITS = len(str(MAX_POST_ID))


def valid_post_id(value: object, *, text: bool = False) -> int | None:
    """``value`` as a post id, or None: the one check every surface's id goes through before it is trusted.

    A post id is an int in [1, MAX_POST_ID]. JSON must carry a number (a string, bool or float there means a
    broken source); ``text=True`` is for surfaces that only carry text (XML, HTML classes, query strings) and
    then also accepts a string of ASCII digits.

    >>> [valid_post_id(v) for v in (7, "7", True, 1.0, 0, -5, 2**63)]
    [7, None, None, None, None, None, None]
    >>> valid_post_id("7", text=True), valid_post_id("99999999999999999999", text=True)
    (7, None)
    """
    if isinstance(value, str):
        if not text or not (value.isascii() and value.isdigit()) or len(value) > _MAX_DIGITS:
            return None
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= MAX_POST_ID else None


def show_bad_id(value: object) -> str:
    """A rejected id as the source spelled it (JSON), cut to ~40 characters: for one-line reasons and logs."""
    shown = json.dumps(value, ensure_ascii=False, default=repr)
    return shown if len(shown) <= 40 else shown[:39] + "…"


def post_id_param(url: str) -> str | None:
    """The raw ``p`` of a WordPress shortlink or RSS guid (``https://site/?p=123``), valid or not; None also
    for a URL that cannot be parsed.

    >>> post_id_param("https://example.org/?p=12"), post_id_param("http://[x/?p=12")
    ('12', None)
    """
    try:
        parts = _split(url)
    except BadUrl:
        return None
    return next((value for key, value in parse_qsl(parts.query) if key == "p"), None)


def post_id_from_url(url: str) -> int | None:
    """The post id of a shortlink or RSS guid, if it carries a valid one."""
    return valid_post_id(post_id_param(url), text=True)


def id_in_classes(classes: str, prefix: str) -> str | None:
    """The raw digits of the first ``post-123``-like class (``postid-`` on a body), valid or not."""
    return next(
        (c[len(prefix) :] for c in classes.split() if c[len(prefix) :].isdigit() and c.startswith(prefix)),
        None,
    )


def path_of(url: str) -> str:
    """The URL's path ("/" if empty); raises ``BadUrl`` for a URL that cannot be parsed."""
    return _split(url).path or "/"
