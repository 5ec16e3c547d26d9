"""Everything specific to insightcrime.org, in one place.

The crawler otherwise speaks only standard WordPress surfaces (REST API, RSS, Yoast sitemaps, category archives,
shortlinks, hreflang). Pointing it at another WordPress news site means writing another profile like this one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Edition:
    """One language edition of the site and where its briefs live."""

    lang: str
    categories: tuple[str, ...]  # WordPress category slugs whose posts are briefs
    feed_paths: tuple[str, ...]  # RSS feeds listing those posts, newest first, paged with ?paged=N
    listing_paths: tuple[str, ...]  # category archives, paged with page/N/
    article_path: re.Pattern  # permalink shape of a brief (used where a surface gives only a URL)


@dataclass(frozen=True)
class SiteProfile:
    name: str
    base_url: str
    editions: dict[str, Edition]
    host_aliases: tuple[str, ...] = field(default=())  # other hosts of the same site (e.g. www.)

    def edition_of(self, path: str) -> Edition | None:
        """The edition whose brief permalinks match `path`, if any."""
        for edition in self.editions.values():
            if edition.article_path.match(path):
                return edition
        return None


INSIGHT_CRIME = SiteProfile(
    name="insightcrime",
    base_url="https://insightcrime.org",
    host_aliases=("www.insightcrime.org",),
    editions={
        "en": Edition(
            lang="en",
            categories=("news", "brief"),
            feed_paths=("/category/news/feed/",),
            listing_paths=("/category/news/",),
            # Permalinks are /%category%/%postname%/: older briefs /news/brief/<slug>/, newer /news/<slug>/.
            article_path=re.compile(r"^/news/(?:brief/)?(?!page/|feed/)[^/]+/?$"),
        ),
        "es": Edition(
            lang="es",
            categories=("noticias-del-dia",),
            feed_paths=("/es/category/noticias/noticias-del-dia/feed/",),
            listing_paths=("/es/category/noticias/noticias-del-dia/",),
            article_path=re.compile(r"^/es/noticias/noticias-del-dia/(?!page/|feed/)[^/]+/?$"),
        ),
    },
)


def profile_for(base_url: str | None) -> SiteProfile:
    """The InSight Crime profile, optionally re-based (the simulator serves the same site elsewhere)."""
    if not base_url or base_url.rstrip("/") == INSIGHT_CRIME.base_url:
        return INSIGHT_CRIME
    return SiteProfile(INSIGHT_CRIME.name, base_url.rstrip("/"), INSIGHT_CRIME.editions, ())
