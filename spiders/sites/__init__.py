"""Site profiles: everything specific to one site, one declarative object per site (in the spirit of fundus).

The crawler and the clean stage otherwise speak only standard WordPress surfaces (REST API, RSS, Yoast sitemaps,
category archives, shortlinks, hreflang, JSON-LD, OpenGraph). Adding a site is one module in this package that
defines ``PROFILE``; ``load_profile(name)`` finds it by its module name. This package imports only the standard
library, so settings, DAG files and workers can load a profile cheaply.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
from dataclasses import dataclass, field

DEFAULT_PROFILE = "insightcrime"
# The commonest words of each language: enough to tell a page's language from another edition's.
STOPWORDS = {
    "en": frozenset(
        ["the", "and", "of", "to", "in", "is", "that", "for", "with", "was", "on", "as", "by", "have", "has"]
    ),
    "es": frozenset(
        ["de", "la", "que", "el", "en", "y", "los", "del", "las", "por", "un", "una", "con", "para", "se"]
    ),
}


def stopwords_for(*languages: str) -> dict[str, frozenset[str]]:
    return {lang: STOPWORDS[lang] for lang in languages}


@dataclass(frozen=True)
class Edition:
    """One language edition of the site and which of its posts are briefs (the scope)."""

    lang: str
    # Root category slugs: a post in any of them *or any descendant category* is a brief.
    scope: tuple[str, ...]
    # Permalink shapes of briefs, subcategory paths included: the scope on surfaces that give only a URL.
    article_path: re.Pattern
    feed_paths: tuple[str, ...]  # RSS feeds of the scope's root categories (WordPress includes children)
    listing_paths: tuple[str, ...]  # category archives of the same, paged with page/N/
    # Where a separate WordPress install for this edition would live ("/es"): probed when the main install's
    # REST API does not know the edition (no ``lang`` support, no scope category). "" = the main install only.
    install: str = ""


@dataclass(frozen=True)
class CleanRules:
    """The site's page chrome, recognised by its words (see ``pipelines/chrome.py``), and what must never leak."""

    version: str  # recorded with every version: a change of rules is a change of extractor
    section_headings: tuple[str, ...] = ()  # a heading that names a chrome section: the section goes
    block_openings: tuple[str, ...] = ()  # a block opening with one of these sentences goes
    share_words: tuple[str, ...] = ("share",)  # a line of only these words is a share-button row
    standalone_lines: tuple[str, ...] = ()  # whole lines that are chrome ("DONATE")
    feed_footer: re.Pattern | None = None  # the feed-only "The post … appeared first on …" line
    see_also: tuple[str, ...] = ("SEE ALSO", "READ MORE")  # cross-link labels kept (with their links)
    leak_phrases: tuple[str, ...] = ()  # must never survive cleaning: a quality flag when they do


@dataclass(frozen=True)
class SiteProfile:
    name: str
    base_url: str
    editions: dict[str, Edition]
    clean: CleanRules
    storage_prefix: str  # the archive's prefix in the bucket
    host_aliases: tuple[str, ...] = ()  # other hosts of the same site (e.g. www.)
    title_suffix: re.Pattern | None = None  # " - Site Name" after page titles
    countries: frozenset[str] = frozenset()  # tags that name a country
    stopwords: dict[str, frozenset[str]] = field(default_factory=dict)  # per language: language detection

    def edition_of(self, path: str) -> Edition | None:
        """The edition whose brief permalinks match `path`, if any."""
        for edition in self.editions.values():
            if edition.article_path.match(path):
                return edition
        return None

    def at(self, base_url: str | None) -> SiteProfile:
        """The same site served elsewhere (a staging mirror, the simulator): same rules, other origin, no aliases."""
        if not base_url or base_url.rstrip("/") == self.base_url:
            return self
        return dataclasses.replace(self, base_url=base_url.rstrip("/"), host_aliases=())


class UnknownProfile(ValueError):
    """No module ``spiders.sites.<name>`` defines a PROFILE."""


def profile_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load_profile(name: str = DEFAULT_PROFILE, site: str | None = None) -> SiteProfile:
    """The profile named `name`, served at `site` (default: the profile's own base URL)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name or "") or name not in profile_names():
        raise UnknownProfile(f"unknown site profile {name!r}: expected one of {', '.join(profile_names())}")
    profile = importlib.import_module(f"{__name__}.{name}").PROFILE
    return profile.at(site)
