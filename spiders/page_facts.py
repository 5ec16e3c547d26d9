"""What an article page says about itself through standard markup: canonical URL, shortlink post id, hreflang
translations, and dates from JSON-LD or OpenGraph. Used to identify and filter fetched pages, not to clean them.

Page markup is untrusted, so each value stands on its own: a malformed one (a canonical with port 99999,
a JSON-LD ``@graph`` that is a string, a date that is a list) is ignored with a one-line entry in
``problems`` and the others are still read. Nothing here raises on what a page contains.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from parsel import Selector

from .discovery import parse_time
from .urls import BadUrl, canonical_url, id_in_classes, origin_of, post_id_param, show_bad_id, valid_post_id

ARTICLE_TYPES = ("NewsArticle", "Article", "BlogPosting", "ReportageNewsArticle")


@dataclass
class PageFacts:
    canonical: str | None = None
    post_id: int | None = None
    translations: dict[str, str] = field(default_factory=dict)
    published: datetime | None = None
    modified: datetime | None = None
    title: str | None = None
    bad_ids: dict[str, str] = field(default_factory=dict)  # where -> rejected id as spelled
    problems: list[str] = field(default_factory=list)  # malformed values that were ignored, one line each


def _is_article(node: object) -> bool:
    kind = node.get("@type") if isinstance(node, dict) else None
    kinds = kind if isinstance(kind, list) else [kind]
    return any(isinstance(k, str) and k in ARTICLE_TYPES for k in kinds)


def json_ld_article(sel: Selector, problems: list[str] | None = None) -> dict:
    """The page's schema.org article node (Yoast puts it in an ``@graph``), or {}.

    Any JSON shape is survived: what is not an object or a list of objects is skipped (noted in
    ``problems`` if given). The node's fields are as the page spelled them: callers check each one's type.
    """
    notes = problems if problems is not None else []
    for raw in sel.xpath('//script[@type="application/ld+json"]/text()').getall():
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            notes.append("json_ld: a script is not JSON, ignored")
            continue
        graph = data.get("@graph", [data]) if isinstance(data, dict) else data
        if isinstance(graph, dict):
            graph = [graph]
        if not isinstance(graph, list):
            notes.append(f"json_ld: @graph {show_bad_id(graph)} ignored")
            continue
        article = next((node for node in graph if _is_article(node)), None)
        if article is not None:
            return article
    return {}


def _time(value: object, where: str, problems: list[str]) -> datetime | None:
    """``value`` as a UTC time; a present but unusable one is noted and ignored."""
    if value is None or value == "":
        return None
    try:
        parsed = parse_time(value) if isinstance(value, str) else None
    except (OverflowError, ValueError):  # e.g. year 1 with a positive offset
        parsed = None
    if parsed is None:
        problems.append(f"bad_date: {where} {show_bad_id(value)} ignored")
    return parsed


def _url(value: str, where: str, base_url: str, problems: list[str]) -> str | None:
    try:
        return canonical_url(value, base_url)
    except BadUrl:
        problems.append(f"bad_url: {where} {show_bad_id(value)} ignored")
        return None


def _head_values(sel: Selector) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The first value of each ``<link rel>`` and ``<meta property>`` of interest, and the hreflang links,
    from one pass over the page's links and metas (an XPath query per value walks the whole tree each time)."""
    firsts: dict[str, str] = {}
    hreflang: list[tuple[str, str]] = []
    for node in sel.root.iter("link", "meta"):
        attrib = node.attrib
        if node.tag == "link":
            rel, href = attrib.get("rel"), attrib.get("href")
            if rel == "alternate" and "hreflang" in attrib:
                hreflang.append((attrib["hreflang"], href or ""))
            elif rel in _LINK_RELS and href is not None:
                firsts.setdefault(rel, href)
        elif attrib.get("property") in _META_PROPERTIES and "content" in attrib:
            firsts.setdefault(attrib["property"], attrib["content"])
    return firsts, hreflang


_LINK_RELS = ("canonical", "shortlink")
_META_PROPERTIES = ("og:url", "og:title", "article:published_time", "article:modified_time")


def page_facts(page: str | Selector, base_url: str) -> PageFacts:
    """What the page's markup says; malformed values are skipped and listed in ``problems``."""
    sel = Selector(text=page) if isinstance(page, str) else page
    head, hreflang = _head_values(sel)
    facts = PageFacts()
    for where, key in (("canonical", "canonical"), ("og:url", "og:url")):
        value = head.get(key)
        if value and facts.canonical is None:
            facts.canonical = _url(value, where, base_url, facts.problems)
    shortlink_href = head.get("shortlink", "").strip()
    if shortlink_href and origin_of(shortlink_href) is None:
        facts.problems.append(f"bad_url: shortlink {show_bad_id(shortlink_href)} ignored")
    shortlink = post_id_param(shortlink_href)
    body_id = id_in_classes(sel.xpath("//body/@class").get() or "", "postid-")
    for where, raw in (("page shortlink", shortlink), ("page body class", body_id)):
        if raw is not None and facts.post_id is None:
            facts.post_id = valid_post_id(raw, text=True)
            if facts.post_id is None:
                facts.bad_ids[where] = show_bad_id(raw)
    for lang, href in hreflang:
        if href and lang and lang != "x-default":
            url = _url(href, f"hreflang {lang}", base_url, facts.problems)
            if url:
                facts.translations[lang.split("-")[0].lower()] = url
    article = json_ld_article(sel, facts.problems)
    facts.published = _time(article.get("datePublished"), "json_ld datePublished", facts.problems) or _time(
        head.get("article:published_time"), "og published", facts.problems
    )
    facts.modified = _time(article.get("dateModified"), "json_ld dateModified", facts.problems) or _time(
        head.get("article:modified_time"), "og modified", facts.problems
    )
    headline = article.get("headline")
    if headline is not None and not isinstance(headline, str):
        facts.problems.append(f"json_ld: headline {show_bad_id(headline)} ignored")
    facts.title = headline if isinstance(headline, str) else head.get("og:title")
    return facts
