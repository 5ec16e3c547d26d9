"""What an article page says about itself through standard markup: canonical URL, shortlink post id, hreflang
translations, and dates from JSON-LD or OpenGraph. Used to identify and filter fetched pages, not to clean them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from parsel import Selector

from .discovery import parse_time
from .urls import canonical_url, id_in_classes, post_id_param, show_bad_id, valid_post_id


@dataclass
class PageFacts:
    canonical: str | None = None
    post_id: int | None = None
    translations: dict[str, str] = field(default_factory=dict)
    published: datetime | None = None
    modified: datetime | None = None
    title: str | None = None
    bad_ids: dict[str, str] = field(default_factory=dict)  # where -> rejected id as spelled


def json_ld_article(sel: Selector) -> dict:
    """The page's schema.org article node (Yoast puts it in an ``@graph``), or {}."""
    for raw in sel.xpath('//script[@type="application/ld+json"]/text()').getall():
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        nodes = (
            data.get("@graph", [data]) if isinstance(data, dict) else data if isinstance(data, list) else []
        )
        for node in nodes:
            kind = node.get("@type") if isinstance(node, dict) else None
            kinds = kind if isinstance(kind, list) else [kind]
            if any(k in ("NewsArticle", "Article", "BlogPosting", "ReportageNewsArticle") for k in kinds):
                return node
    return {}


def page_facts(page: str | Selector, base_url: str) -> PageFacts:
    sel = Selector(text=page) if isinstance(page, str) else page
    facts = PageFacts()
    canonical = (
        sel.xpath('//link[@rel="canonical"]/@href').get()
        or sel.xpath('//meta[@property="og:url"]/@content').get()
    )
    facts.canonical = canonical_url(canonical, base_url) if canonical else None
    shortlink = post_id_param((sel.xpath('//link[@rel="shortlink"]/@href').get() or "").strip())
    body_id = id_in_classes(sel.xpath("//body/@class").get() or "", "postid-")
    for where, raw in (("page shortlink", shortlink), ("page body class", body_id)):
        if raw is not None and facts.post_id is None:
            facts.post_id = valid_post_id(raw, text=True)
            if facts.post_id is None:
                facts.bad_ids[where] = show_bad_id(raw)
    for link in sel.xpath('//link[@rel="alternate"][@hreflang]'):
        lang, href = link.attrib.get("hreflang", ""), link.attrib.get("href")
        if href and lang and lang != "x-default":
            facts.translations[lang.split("-")[0].lower()] = canonical_url(href, base_url)
    article = json_ld_article(sel)
    facts.published = parse_time(article.get("datePublished")) or parse_time(
        sel.xpath('//meta[@property="article:published_time"]/@content').get()
    )
    facts.modified = parse_time(article.get("dateModified")) or parse_time(
        sel.xpath('//meta[@property="article:modified_time"]/@content').get()
    )
    headline = article.get("headline")
    facts.title = (
        headline if isinstance(headline, str) else sel.xpath('//meta[@property="og:title"]/@content').get()
    )
    return facts
