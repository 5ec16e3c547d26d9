"""Parsers for the discovery surfaces: WordPress REST API, RSS 2.0, Yoast sitemaps and category archives.

Each turns one response body into candidates (URL, post id when the surface tells it, dates). They never raise
on a bad item: they skip it and count it, so one malformed entry cannot hide the rest of a page. An id that is
not a valid post id (``urls.valid_post_id``) is never used: the candidate keeps its URL, no id, and the rejected
value in ``bad_ids``, so the fetch record can say why it has no id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from parsel import Selector
from scrapy.utils.sitemap import Sitemap

from .site_profile import SiteProfile
from .urls import (
    canonical_url,
    id_in_classes,
    path_of,
    post_id_param,
    same_site,
    show_bad_id,
    valid_post_id,
)


class SurfaceError(Exception):
    """The whole response is unusable (not JSON, not XML, wrong shape): the surface counts as unavailable."""


@dataclass
class Candidate:
    """A brief some surface says exists; merged across surfaces by post id, then by canonical URL."""

    url: str
    edition: str
    post_id: int | None = None
    published: datetime | None = None
    modified: datetime | None = None
    surfaces: set[str] = field(default_factory=set)
    rest: dict | None = None
    aliases: set[str] = field(default_factory=set)
    bad_ids: dict[str, str] = field(default_factory=dict)  # where -> rejected id as spelled, e.g. "rest id"

    def merge(self, other: Candidate) -> None:
        self.post_id = self.post_id or other.post_id
        self.published = self.published or other.published
        self.modified = max(filter(None, (self.modified, other.modified)), default=None)
        self.surfaces |= other.surfaces
        self.rest = self.rest or other.rest
        if other.url != self.url:
            self.aliases.add(other.url)
        self.aliases |= other.aliases - {self.url}
        self.bad_ids = other.bad_ids | self.bad_ids


def parse_time(value: str | None) -> datetime | None:
    """ISO-8601 (naive means UTC, as in REST ``*_gmt`` fields) or RFC 822 (RSS); None if unparseable."""
    if not value or not isinstance(value, str):
        return None
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def iso_utc(value: datetime | None) -> str | None:
    """The archive's one spelling of a time: UTC, seconds, ``Z``."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if value else None


REST_FIELDS = "id,date_gmt,modified_gmt,link,slug,lang,translations,categories,title,guid"


@dataclass
class RestPage:
    """One page of ``/wp-json/wp/v2/posts``, read."""

    candidates: list[Candidate]  # items with a valid id
    invalid: int  # items skipped or whose id was rejected
    unidentified: list[Candidate]  # rejected id, good link: worth a fetch, the page may give a valid id


def parse_rest_posts(body: bytes, profile: SiteProfile, edition: str) -> tuple[list[Candidate], int]:
    """One page of ``/wp-json/wp/v2/posts``: (candidates with a valid id, number of invalid items)."""
    page = read_rest_page(body, profile, edition)
    return page.candidates, page.invalid


def read_rest_page(body: bytes, profile: SiteProfile, edition: str) -> RestPage:
    """One page of ``/wp-json/wp/v2/posts``; raises SurfaceError if the page as a whole is unusable."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SurfaceError(f"REST API answered invalid JSON: {exc}") from None
    if not isinstance(data, list):
        raise SurfaceError(f"REST API answered {type(data).__name__}, expected a list of posts")
    page = RestPage([], 0, [])
    for item in data:
        link = item.get("link") if isinstance(item, dict) else None
        if not isinstance(link, str) or not same_site(link, profile.base_url, profile.host_aliases):
            page.invalid += 1
            continue
        post_id = valid_post_id(item.get("id"))
        lang = item.get("lang")
        if isinstance(lang, str) and lang and lang != edition:
            continue  # a site without lang filtering answered every language
        if profile.edition_of(path_of(link)) is None and not isinstance(item.get("categories"), list):
            page.invalid += 1
            continue
        title = item.get("title")
        rest = {
            "id": post_id,
            "date_gmt": item.get("date_gmt") if isinstance(item.get("date_gmt"), str) else None,
            "modified_gmt": item.get("modified_gmt") if isinstance(item.get("modified_gmt"), str) else None,
            "link": link,
            "slug": item.get("slug") if isinstance(item.get("slug"), str) else None,
            "title": title.get("rendered") if isinstance(title, dict) else None,
            "translations": item.get("translations") if isinstance(item.get("translations"), dict) else {},
        }
        candidate = Candidate(
            url=canonical_url(link, profile.base_url),
            edition=edition,
            post_id=post_id,
            published=parse_time(rest["date_gmt"]),
            modified=parse_time(rest["modified_gmt"]),
            surfaces={"rest"},
            rest=rest,
        )
        if post_id is None:
            page.invalid += 1
            candidate.bad_ids["rest id"] = show_bad_id(item.get("id"))
            page.unidentified.append(candidate)
        else:
            page.candidates.append(candidate)
    return page


def parse_rss(body: bytes, profile: SiteProfile, edition: str) -> list[Candidate]:
    try:
        sel = Selector(body=body, type="xml")
    except Exception as exc:  # lxml raises a variety of errors on broken XML
        raise SurfaceError(f"feed is not XML: {exc}") from None
    sel.remove_namespaces()
    items = sel.xpath("//channel/item")
    if not sel.xpath("//channel"):
        raise SurfaceError("feed has no <channel>")
    found = []
    for item in items:
        link = (item.xpath("link/text()").get() or "").strip()
        if not link or not same_site(link, profile.base_url, profile.host_aliases):
            continue
        candidate = Candidate(
            url=canonical_url(link, profile.base_url),
            edition=edition,
            published=parse_time(item.xpath("pubDate/text()").get()),
            surfaces={"rss"},
        )
        guid = post_id_param((item.xpath("guid/text()").get() or "").strip())
        raw_id = (item.xpath("post-id/text()").get() or "").strip() or None
        for where, raw in (("rss guid", guid), ("rss post-id", raw_id)):
            if raw is not None and candidate.post_id is None:
                candidate.post_id = valid_post_id(raw, text=True)
                if candidate.post_id is None:
                    candidate.bad_ids[where] = show_bad_id(raw)
        found.append(candidate)
    return found


def parse_sitemap(body: bytes) -> tuple[str, list[tuple[str, datetime | None]]]:
    """A sitemap or sitemap index: (type, [(loc, lastmod)]). Scrapy's parser refuses entities (XML bombs)."""
    try:
        sitemap = Sitemap(body)
    except Exception as exc:
        raise SurfaceError(f"sitemap is not XML: {exc}") from None
    if sitemap.type not in ("sitemapindex", "urlset"):
        raise SurfaceError(f"not a sitemap (root element {sitemap.type!r})")
    entries = []
    for entry in sitemap:
        loc = entry.get("loc")
        if loc:
            entries.append((loc.strip(), parse_time(entry.get("lastmod"))))
    return sitemap.type, entries


def parse_listing(
    body: bytes, url: str, profile: SiteProfile, edition: str
) -> tuple[list[Candidate], str | None]:
    """A category archive page: its teasers (link + published time) and the next page's URL."""
    sel = Selector(body=body, type="html")
    found = []
    for article in sel.css("article"):
        link = article.css("h2 a::attr(href), h3 a::attr(href), a[rel=bookmark]::attr(href)").get()
        if not link or not same_site(link, profile.base_url, profile.host_aliases):
            continue
        candidate = Candidate(
            url=canonical_url(link, profile.base_url),
            edition=edition,
            published=parse_time(article.css("time::attr(datetime)").get()),
            surfaces={"listing"},
        )
        raw = id_in_classes(article.attrib.get("class", ""), "post-")
        candidate.post_id = valid_post_id(raw, text=True)
        if raw is not None and candidate.post_id is None:
            candidate.bad_ids["listing class"] = show_bad_id(f"post-{raw}")
        found.append(candidate)
    next_url = sel.css("a.next::attr(href), link[rel=next]::attr(href)").get()
    return found, next_url
