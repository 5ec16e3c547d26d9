"""Article metadata built in layers: every field comes from the first layer that has it.

Themes differ in what they say about a post, so no single source is enough. Layers, most trusted first:
(1) JSON-LD (the schema.org article node; Yoast ``@graph`` authors given as ``@id`` references are resolved),
(2) OpenGraph / meta tags, (3) the page's visible markup (byline, ``rel=author``/``rel=tag`` links, ``<time>``)
and then trafilatura's own metadata extraction, (4) the REST API record the crawler saw, (5) the feed item.
A page date without a UTC offset is site-local (it moves with daylight saving), so it yields to any layer
that dates the post with an offset, REST ``*_gmt`` included, and is used only when nothing better exists.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime

import trafilatura
from lxml.html import HtmlElement
from parsel import Selector

from spiders.discovery import iso_utc, parse_time
from spiders.page_facts import page_facts
from spiders.sites import SiteProfile

_ARTICLE_TYPES = {
    "Article",
    "NewsArticle",
    "BlogPosting",
    "ReportageNewsArticle",
    "AnalysisNewsArticle",
    "OpinionNewsArticle",
}
_SPLIT = re.compile(r"\s*[,;&]\s*(?:(?:and|y)\s+)?|\s+(?:and|y)\s+")
_BY = re.compile(r"^(?:by|por)\s*:?\s+", re.I)
_CLASS = "contains(concat(' ', normalize-space(@class), ' '), ' {} ')"
_REL = "contains(concat(' ', normalize-space(@rel), ' '), ' {} ')"

Getter = Callable[[], tuple[bool, object]]  # -> (the layer carried something, the usable value)


def split_authors(value: str) -> list[str]:
    """Bylines join co-authors ("A and B", "A y B", "A, B", "A & B"): one name per person, "By"/"Por" dropped.

    Split only when every part is itself a full name (two words or more): "Santiago Ramón y Cajal", "Martin
    Luther King, Jr." and "Crime & Justice Desk" are one name each.
    """
    whole = _BY.sub("", value.strip()).strip()
    parts = [_BY.sub("", part.strip()).strip() for part in _SPLIT.split(whole)]
    parts = [p for p in parts if p]
    if len(parts) > 1 and all(len(p.split()) >= 2 for p in parts):
        return parts
    return [whole] if whole else []


def people(names: list, split: bool = True) -> list[str]:
    """Every name (split into persons when `split`: a byline, not a structured author), deduplicated
    case-insensitively in order of appearance."""
    seen: dict[str, str] = {}
    for name in names:
        if isinstance(name, str) and not name.strip().lower().startswith(("http://", "https://")):
            name = " ".join(name.split())
            for person in split_authors(name) if split else [_BY.sub("", name).strip()]:
                if person:
                    seen.setdefault(person.casefold(), person)
    return list(seen.values())


def _names(values: object, split: bool = True) -> tuple[bool, list[str]]:
    values = [values] if isinstance(values, str) else values if isinstance(values, list) else []
    return bool(values), people(values, split)


def _unique(values: list) -> list[str]:
    clean = (" ".join(v.split()) for v in values if isinstance(v, str))
    return list(dict.fromkeys(v for v in clean if v))


# ---- layer 1: JSON-LD ------------------------------------------------------------------------------------------
def _ld_nodes(data: object) -> Iterator[dict]:
    if isinstance(data, list):
        for item in data:
            yield from _ld_nodes(item)
    elif isinstance(data, dict):
        if "@graph" in data:
            yield from _ld_nodes(data["@graph"])
        else:
            yield data


def json_ld(sel: Selector) -> tuple[dict, dict[str, dict]]:
    """The page's schema.org article node ({} if none) and every node by its ``@id`` (to resolve references)."""
    article: dict = {}
    by_id: dict[str, dict] = {}
    for raw in sel.xpath('//script[@type="application/ld+json"]/text()').getall():
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        for node in _ld_nodes(data):
            if isinstance(node.get("@id"), str):
                by_id.setdefault(node["@id"], node)
            kind = node.get("@type")
            kinds = kind if isinstance(kind, list) else [kind]
            if not article and any(isinstance(k, str) and k in _ARTICLE_TYPES for k in kinds):
                article = node
    return article, by_id


def _ld_authors(article: dict, by_id: dict[str, dict]) -> tuple[bool, list[str]]:
    raw = article.get("author")
    items = raw if isinstance(raw, list) else [raw] if raw else []
    persons, texts = [], []  # a Person node names one person; a plain string is a byline
    for item in items:
        if isinstance(item, dict) and not item.get("name") and isinstance(item.get("@id"), str):
            item = by_id.get(item["@id"], {})  # Yoast: {"@id": ".../#/schema/person/..."} -> the Person node
        (persons if isinstance(item, dict) else texts).append(
            item.get("name") if isinstance(item, dict) else item
        )
    return bool(items), people(people(persons, split=False) + people(texts), split=False)


def _ld_list(value: object, comma: bool) -> tuple[bool, list[str]]:
    if isinstance(value, str):
        value = value.split(",") if comma else [value]
    items = value if isinstance(value, list) else []
    return bool(items), _unique(items)


# ---- layer 3: the visible page -------------------------------------------------------------------------------
def _scope(sel: Selector) -> Selector:
    """The post itself, so teaser bylines and tags in related-content blocks are not taken for the post's."""
    found = sel.xpath("//article[starts-with(@id, 'post-')]") or sel.xpath("//main") or [sel]
    return found[0]


def _texts(nodes) -> list[str]:
    return _unique([" ".join(node.xpath("string()").get("").split()) for node in nodes])


def _markup_authors(scope: Selector) -> tuple[bool, list[str]]:
    linked = scope.xpath(f".//a[{_REL.format('author')}]")
    if linked:
        return True, people(_texts(linked), split=False)
    byline = scope.xpath(f".//*[{_CLASS.format('byline')}]")
    if not byline:
        return False, []
    links = byline[0].xpath(".//a[contains(@href, '/author/')]")
    return True, people(_texts(links), split=False) if links else people(_texts(byline[:1]))


def _markup_tags(scope: Selector) -> tuple[bool, list[str]]:
    links = scope.xpath(f".//a[{_REL.format('tag')} and not({_REL.format('category')})]")
    return bool(links), _texts(links)


def _markup_time(scope: Selector, kind: str) -> str | None:
    """A date the theme prints. An ``updated`` time that is also the ``entry-date`` or ``published`` one is the
    publication date (tagDiv, many hAtom themes mark it so), never a modification."""
    if kind == "published":
        cls, prop, unless = "published", "datePublished", "false()"
    else:
        cls, prop = "updated", "dateModified"
        unless = f"{_CLASS.format('entry-date')} or {_CLASS.format('published')}"
    return (
        scope.xpath(f".//time[{_CLASS.format(cls)}][not({unless})]/@datetime").get()
        or scope.xpath(f'.//*[@itemprop="{prop}"]/@datetime | .//*[@itemprop="{prop}"]/@content').get()
        or (scope.xpath(".//time/@datetime").get() if kind == "published" else None)
    )


class _Trafilatura:
    """trafilatura's metadata extraction, run at most once and only when a field reaches it unfilled."""

    def __init__(self, sel: Selector, url: str):
        self.sel, self.url, self.doc = sel, url, None

    def get(self, name: str):
        if self.doc is None:
            root = self.sel.root
            tree = root if isinstance(root, HtmlElement) else self.sel.get()
            self.doc = trafilatura.extract_metadata(tree, default_url=self.url, extensive=False)
        return getattr(self.doc, name, None)

    def authors(self) -> tuple[bool, list[str]]:
        author = self.get("author")  # co-authors joined with "; "
        return bool(author), people([author] if author else [])

    def tags(self) -> tuple[bool, list[str]]:
        tags = self.get("tags") or []
        return bool(tags), _unique(tags)


# ---- merging ---------------------------------------------------------------------------------------------------
def _instant(value: object, naive_is_utc: bool = False) -> tuple[datetime | None, bool]:
    """(the time, whether it is pinned to UTC): a naive page time is site-local, REST ``*_gmt`` is UTC."""
    parsed = parse_time(value) if isinstance(value, str) else None
    if parsed is None:
        return None, False
    text = value.strip()
    try:
        original = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        original = parsedate_to_datetime(text)
    return parsed, naive_is_utc or original.tzinfo is not None


def _date(chain: list[tuple[str, object, bool]], carried: list[str]) -> tuple[str | None, str | None]:
    """The first time pinned to UTC in layer order; failing that, the first site-local one (a callable raw
    value is asked for only when nothing before it gave a time)."""
    local = None
    for layer, raw, naive_is_utc in chain:
        if callable(raw):
            raw = raw() if local is None else None
        if isinstance(raw, str) and raw.strip():
            carried.append(layer)
        when, pinned = _instant(raw, naive_is_utc)
        if when and pinned:
            return iso_utc(when), layer
        local = local or (when and (iso_utc(when), layer))
    return local or (None, None)


def _first(chain: list[tuple[str, Getter]], carried: list[str]) -> tuple[object, str | None]:
    for layer, get in chain:
        had, value = get()
        if had:
            carried.append(layer)
        if value:
            return value, layer
    return None, None


def _section(value: object) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    return " ".join(value.split()).lower() if isinstance(value, str) and value.strip() else None


def _slug(name: str) -> str:
    return re.sub(r"[^\w]+", "-", name.casefold()).strip("-")


def _feed_tags(feed: dict, rest: dict, url: str) -> tuple[bool, list[str]]:
    """RSS ``<category>`` holds categories and tags alike: the tags are what is not a known category."""
    known = {_slug(c) for c in rest.get("categories") or [] if isinstance(c, str)}
    known |= {p for p in url.split("/")[3:] if p}
    names = _unique(feed.get("categories") or [])
    return False, [n for n in names if _slug(n) not in known]


def metadata_gaps(metadata: dict, carried: dict[str, list[str]]) -> list[str]:
    """Quality flags for what the metadata lacks: authors and date are expected of every brief, tags only when
    some layer carried tag data (a tag link, tag ids the REST record could not name...) that gave nothing."""
    gaps = []
    if not metadata["authors"]:
        gaps.append("missing_authors")
    if not metadata["published"]:
        gaps.append("missing_date")
    if not metadata["tags"] and carried.get("tags"):
        gaps.append("missing_tags")
    return gaps


def extract_metadata(
    sel: Selector,
    url: str,
    edition: str,
    profile: SiteProfile,
    rest: dict | None,
    *,
    feed: dict | None = None,
) -> tuple[dict, list[str]]:
    """Everything but the body, and its gaps as quality flags (``metadata_gaps``)."""
    rest, feed = rest or {}, feed or {}
    facts = page_facts(sel, profile.base_url)
    article, by_id = json_ld(sel)
    scope = _scope(sel)
    late = _Trafilatura(sel, url)
    meta = sel.xpath
    carried: dict[str, list[str]] = {f: [] for f in ("authors", "published", "modified", "tags", "section")}

    authors, _ = _first(
        [
            ("json_ld", lambda: _ld_authors(article, by_id)),
            ("meta", lambda: _names(meta('//meta[@name="author"]/@content').getall())),
            ("markup", lambda: _markup_authors(scope)),
            ("markup", late.authors),
            ("rest", lambda: _names(rest.get("authors"), split=False)),
            ("feed", lambda: _names(feed.get("authors"))),
        ],
        carried["authors"],
    )
    tags, _ = _first(
        [
            ("json_ld", lambda: _ld_list(article.get("keywords"), comma=True)),
            (
                "meta",
                lambda: _ld_list(meta('//meta[@property="article:tag"]/@content').getall(), comma=False),
            ),
            ("markup", lambda: _markup_tags(scope)),
            ("markup", late.tags),
            ("rest", lambda: (bool(rest.get("tags")), _unique(rest.get("tags") or []))),
            ("feed", lambda: _feed_tags(feed, rest, url)),  # RSS mixes tags and categories
        ],
        carried["tags"],
    )
    path = [p for p in url.split("/")[3:] if p]
    section, _ = _first(
        [
            (
                "json_ld",
                lambda: (bool(article.get("articleSection")), _section(article.get("articleSection"))),
            ),
            ("meta", lambda: (False, _section(meta('//meta[@property="article:section"]/@content').get()))),
            ("markup", lambda: (False, path[-2] if len(path) >= 2 else None)),  # /%category%/%postname%/
            ("rest", lambda: (bool(rest.get("categories")), _section(rest.get("categories")))),
            ("feed", lambda: (bool(feed.get("categories")), _section(feed.get("categories")))),
        ],
        carried["section"],
    )
    published, _ = _date(
        [
            # The site's database values first (Yoast's JSON-LD, REST *_gmt), then what a theme prints.
            ("json_ld", article.get("datePublished"), False),
            ("rest", rest.get("date_gmt"), True),
            ("meta", meta('//meta[@property="article:published_time"]/@content').get(), False),
            ("markup", _markup_time(scope, "published"), False),
            ("feed", feed.get("published"), False),
            ("markup", lambda: late.get("date"), False),  # a day at best, often from the URL
        ],
        carried["published"],
    )
    modified, _ = _date(
        [
            ("json_ld", article.get("dateModified"), False),
            ("rest", rest.get("modified_gmt"), True),
            ("meta", meta('//meta[@property="article:modified_time"]/@content').get(), False),
            # tagDiv prints the *published* date as <time class="entry-date updated">: never a modification
            ("markup", _markup_time(scope, "modified"), False),
        ],
        carried["modified"],
    )
    title = facts.title or html.unescape(rest.get("title") or "") or meta("//title/text()").get() or ""
    title = title.strip()
    language = _language(article, sel, edition)
    countries = {c.casefold(): c for c in profile.countries}
    metadata = {
        "title": (profile.title_suffix.sub("", title) if profile.title_suffix else title) or None,
        "authors": authors or [],
        "published": published,
        "modified": modified,
        "section": section,
        "tags": tags or [],
        "countries": _unique([countries[t.casefold()] for t in tags or [] if t.casefold() in countries]),
        "language": language,
        "canonical_url": facts.canonical or url,
        "translations": {k: v for k, v in facts.translations.items() if k != language},
    }
    return metadata, metadata_gaps(metadata, carried)


def _language(article: dict, sel: Selector, fallback: str) -> str:
    lang = article.get("inLanguage") or sel.xpath("/html/@lang").get() or fallback
    return lang.split("-")[0].lower() if isinstance(lang, str) and lang else fallback
