"""Article metadata from standard markup (JSON-LD, OpenGraph, hreflang), then the REST record, then trafilatura."""

from __future__ import annotations

import re

from parsel import Selector

from spiders.discovery import iso_utc, parse_time
from spiders.page_facts import json_ld_article, page_facts

COUNTRIES = {
    "Argentina",
    "Belize",
    "Bolivia",
    "Brazil",
    "Chile",
    "Colombia",
    "Costa Rica",
    "Cuba",
    "Dominican Republic",
    "Ecuador",
    "El Salvador",
    "Guatemala",
    "Haiti",
    "Honduras",
    "Jamaica",
    "Mexico",
    "Nicaragua",
    "Panama",
    "Paraguay",
    "Peru",
    "Puerto Rico",
    "Trinidad and Tobago",
    "Uruguay",
    "Venezuela",
    "United States",
    "Spain",
    "Brasil",
    "México",
    "Panamá",
    "Perú",
    "República Dominicana",
    "Haití",
    "Estados Unidos",
    "España",
}
_TITLE_SUFFIX = re.compile(r"\s+[-–|]\s+InSight Crime$")


def split_authors(value: str) -> list[str]:
    """Bylines join co-authors with "and"/"y" and commas: "A and B" is two people."""
    return [p.strip() for p in re.split(r",\s*|\s+and\s+|\s+y\s+|\s*&\s*", value) if p.strip()]


def _authors(article: dict, sel: Selector) -> list[str]:
    raw = article.get("author")
    nodes = raw if isinstance(raw, list) else [raw] if raw else []
    names = [n.get("name") if isinstance(n, dict) else n for n in nodes]
    names = [n for n in names if isinstance(n, str) and n.strip()]
    if not names:
        meta = sel.xpath('//meta[@name="author"]/@content').get()
        names = [meta] if meta else []
    return list(dict.fromkeys(a for name in names for a in split_authors(name)))


def _tags(article: dict, sel: Selector) -> list[str]:
    keywords = article.get("keywords")
    if isinstance(keywords, str):
        keywords = [k.strip() for k in keywords.split(",")]
    if not isinstance(keywords, list) or not keywords:
        keywords = [t.strip() for t in sel.xpath('//a[@rel="tag"]/text()').getall()]
    return list(dict.fromkeys(k for k in keywords if isinstance(k, str) and k))


def _section(article: dict, url: str) -> str | None:
    section = article.get("articleSection")
    if isinstance(section, list):
        section = section[0] if section else None
    if isinstance(section, str) and section.strip():
        return section.strip().lower()
    parts = [p for p in url.split("/")[3:] if p]
    return parts[-2] if len(parts) >= 2 else None


def _language(article: dict, sel: Selector, fallback: str) -> str:
    lang = article.get("inLanguage") or sel.xpath("/html/@lang").get() or fallback
    return lang.split("-")[0].lower() if isinstance(lang, str) and lang else fallback


def extract_metadata(sel: Selector, url: str, edition: str, base_url: str, rest: dict | None) -> dict:
    """Everything but the body; `rest` (the REST API's view) fills what the page does not say."""
    rest = rest or {}
    facts = page_facts(sel, base_url)
    article = json_ld_article(sel)
    title = facts.title or rest.get("title") or sel.xpath("//title/text()").get() or ""
    tags = _tags(article, sel)
    language = _language(article, sel, edition)
    return {
        "title": _TITLE_SUFFIX.sub("", title.strip()) or None,
        "authors": _authors(article, sel),
        "published": iso_utc(facts.published or parse_time(rest.get("date_gmt"))),
        "modified": iso_utc(facts.modified or parse_time(rest.get("modified_gmt"))),
        "section": _section(article, url),
        "tags": tags,
        "countries": [t for t in tags if t in COUNTRIES],
        "language": language,
        "canonical_url": facts.canonical or url,
        "translations": {k: v for k, v in facts.translations.items() if k != language},
    }
