"""Parsers for the discovery surfaces: WordPress REST API, RSS 2.0, Yoast sitemaps and category archives.

Each turns one response body into candidates (URL, post id when the surface tells it, dates). They never raise
on a bad item: they skip it and count it, so one malformed entry cannot hide the rest of a page. An id that is
not a valid post id (``urls.valid_post_id``) is never used: the candidate keeps its URL, no id, and the rejected
value in ``bad_ids``, so the fetch record can say why it has no id.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from parsel import Selector
from scrapy.utils.sitemap import Sitemap

from .sites import SiteProfile
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
    rest: dict | None = None  # what the REST API said about the post (dates, title, embedded authors/terms)
    feed: dict | None = None  # what the feed said: authors (dc:creator), categories
    aliases: set[str] = field(default_factory=set)
    bad_ids: dict[str, str] = field(default_factory=dict)  # where -> rejected id as spelled, e.g. "rest id"

    def merge(self, other: Candidate) -> None:
        self.post_id = self.post_id or other.post_id
        self.published = self.published or other.published
        self.modified = max(filter(None, (self.modified, other.modified)), default=None)
        self.surfaces |= other.surfaces
        self.rest = self.rest or other.rest
        self.feed = self.feed or other.feed
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
    try:  # year 1 or 9999 with an offset overflows when moved to UTC
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        return None


def iso_utc(value: datetime | None) -> str | None:
    """The archive's one spelling of a time: UTC, seconds, ``Z``."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if value else None


REST_FIELDS = "id,date_gmt,modified_gmt,link,slug,lang,translations,categories,title,guid,_links,_embedded"
REST_EMBED = "author,wp:term"  # authors' names and the post's terms in the same answer (WordPress 5.4+)


@dataclass
class RestPage:
    """One page of ``/wp-json/wp/v2/posts``, read."""

    candidates: list[Candidate]  # items with a valid id
    invalid: int  # items skipped or whose id was rejected
    unidentified: list[Candidate]  # rejected id, good link: worth a fetch, the page may give a valid id
    items: int = 0  # items on the page, read or not (a short page is the last one)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> items skipped for it
    users_refused: int = 0  # embedded authors the site refused to show (401): names must come from elsewhere

    def skip(self, reason: str) -> None:
        """An item not used: counted as invalid, with its reason."""
        self.invalid += 1
        self.note(reason)

    def note(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def read_rest_page(
    body: bytes, profile: SiteProfile, edition: str, scope: set[int] | None = None
) -> RestPage:
    """One page of ``/wp-json/wp/v2/posts``; raises SurfaceError if the page as a whole is unusable.

    Each item is read on its own: a malformed one is skipped and counted, never the page. With `scope` (the
    category ids of the edition's scope), an item whose categories are all outside it is skipped.
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SurfaceError(f"REST API answered invalid JSON: {exc}") from None
    if not isinstance(data, list):
        raise SurfaceError(f"REST API answered {type(data).__name__}, expected a list of posts")
    page = RestPage([], 0, [], items=len(data))
    for item in data:
        try:
            _read_rest_item(item, profile, edition, scope, page)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:  # a value of a shape never seen
            page.skip(f"unreadable item ({type(exc).__name__})")
    return page


def _read_rest_item(item: object, profile: SiteProfile, edition: str, scope: set[int] | None, page) -> None:
    link = item.get("link") if isinstance(item, dict) else None
    if not isinstance(link, str) or not same_site(link, profile.base_url, profile.host_aliases):
        page.skip("link missing or not on the site")
        return
    post_id = valid_post_id(item.get("id"))
    lang = item.get("lang")
    if isinstance(lang, str) and lang and re.split(r"[-_]", lang)[0].lower() != edition:
        page.skip("another language")  # a site without lang filtering answered every language
        return
    categories = item.get("categories")
    if isinstance(categories, list) and scope is not None:
        if not scope.intersection(c for c in categories if isinstance(c, int)):
            page.skip("outside the scope's categories")
            return
    elif profile.edition_of(path_of(link)) is None and not isinstance(categories, list):
        page.skip("no categories and not a brief's URL")
        return
    title = item.get("title")
    try:
        authors, terms, refused = _embedded(item.get("_embedded"))
    except (ValueError, TypeError, AttributeError):  # a bad embed costs the metadata, never the post
        authors, terms, refused = [], {}, 0
        page.note("embedded unreadable (post kept)")
    page.users_refused += refused
    rendered = title.get("rendered") if isinstance(title, dict) else None
    rest = {
        "id": post_id,
        "date_gmt": item.get("date_gmt") if isinstance(item.get("date_gmt"), str) else None,
        "modified_gmt": item.get("modified_gmt") if isinstance(item.get("modified_gmt"), str) else None,
        "link": link,
        "slug": item.get("slug") if isinstance(item.get("slug"), str) else None,
        "title": rendered if isinstance(rendered, str) else None,
        "translations": item.get("translations") if isinstance(item.get("translations"), dict) else {},
        "authors": authors,
        "tags": terms.get("post_tag", []),
        "categories": terms.get("category", []),
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


def _embedded(embedded: object) -> tuple[list[str], dict[str, list[str]], int]:
    """Authors' names, term names by taxonomy, and how many authors were refused (401), from ``_embedded``."""
    if not isinstance(embedded, dict):
        return [], {}, 0
    authors, refused = [], 0
    for user in embedded.get("author") or []:
        if isinstance(user, dict) and isinstance(user.get("name"), str) and user["name"].strip():
            authors.append(user["name"].strip())
        elif isinstance(user, dict) and user.get("code"):
            refused += 1
    terms: dict[str, list[str]] = {}
    for group in embedded.get("wp:term") or []:
        for term in group if isinstance(group, list) else []:
            if isinstance(term, dict) and isinstance(term.get("name"), str):
                taxonomy = term.get("taxonomy") if isinstance(term.get("taxonomy"), str) else "?"
                terms.setdefault(taxonomy, []).append(html.unescape(term["name"]))
    return authors, terms, refused


def read_rss(body: bytes, profile: SiteProfile, edition: str) -> tuple[list[Candidate], int]:
    """One feed page: (candidates, items skipped). Raises SurfaceError if the page is not a feed."""
    try:
        sel = Selector(body=body, type="xml")
    except Exception as exc:  # lxml raises a variety of errors on broken XML
        raise SurfaceError(f"feed is not XML: {exc}") from None
    sel.remove_namespaces()
    items = sel.xpath("//channel/item")
    if not sel.xpath("//channel"):
        raise SurfaceError("feed has no <channel>")
    found, skipped = [], 0
    for item in items:
        try:
            candidate = _rss_item(item, profile, edition)
        except (ValueError, TypeError):  # a value of a shape never seen: this item only
            candidate = None
        if candidate is None:
            skipped += 1
        else:
            found.append(candidate)
    return found, skipped


def _rss_item(item: Selector, profile: SiteProfile, edition: str) -> Candidate | None:
    link = (item.xpath("link/text()").get() or "").strip()
    if not link or not same_site(link, profile.base_url, profile.host_aliases):
        return None
    creators = [c.strip() for c in item.xpath("creator/text()").getall() if c.strip()]
    categories = [c.strip() for c in item.xpath("category/text()").getall() if c.strip()]
    candidate = Candidate(
        url=canonical_url(link, profile.base_url),
        edition=edition,
        published=parse_time(item.xpath("pubDate/text()").get()),
        surfaces={"rss"},
        feed={"authors": creators, "categories": categories},
    )
    candidate.feed["published"] = iso_utc(candidate.published)
    guid = post_id_param((item.xpath("guid/text()").get() or "").strip())
    raw_id = (item.xpath("post-id/text()").get() or "").strip() or None
    for where, raw in (("rss guid", guid), ("rss post-id", raw_id)):
        if raw is not None and candidate.post_id is None:
            candidate.post_id = valid_post_id(raw, text=True)
            if candidate.post_id is None:
                candidate.bad_ids[where] = show_bad_id(raw)
    return candidate


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
        if isinstance(loc, str) and loc.strip():
            entries.append((loc.strip(), parse_time(entry.get("lastmod"))))
    return sitemap.type, entries


def parse_listing(
    body: bytes, url: str, profile: SiteProfile, edition: str
) -> tuple[list[Candidate], str | None]:
    """A category archive page: its teasers (link + published time) and the next page's URL."""
    sel = Selector(body=body, type="html")
    found = []
    for article in sel.css("article"):
        try:
            candidate = _teaser(article, profile, edition)
        except (ValueError, TypeError):
            candidate = None
        if candidate is not None:
            found.append(candidate)
    next_url = sel.css("a.next::attr(href), link[rel=next]::attr(href)").get()
    return found, next_url


def _teaser(article: Selector, profile: SiteProfile, edition: str) -> Candidate | None:
    link = article.css("h2 a::attr(href), h3 a::attr(href), a[rel=bookmark]::attr(href)").get()
    if not link or not same_site(link, profile.base_url, profile.host_aliases):
        return None
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
    return candidate
