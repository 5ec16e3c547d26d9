"""InSight Crime's page chrome, and how to strip it before trafilatura sees the page.

Trafilatura alone keeps the comment prompt and, on some pages, the donation box or the licence paragraph. These
rules find that chrome by its text and its place in the tree (a heading that opens a section, a block that starts
with a known sentence), never by one guessed CSS class, so a redesign that keeps the words keeps working.
Everything here is site-specific; the rest of the clean stage is not.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

from lxml import html as lxml_html

RULES_VERSION = "insightcrime-1"

# Sections whose heading names them; the whole section goes.
SECTION_HEADINGS = (
    "Related Content",
    "Latest News",
    "About InSight Crime",
    "Contenido relacionado",
    "Últimas noticias",
    "Sobre InSight Crime",
)
# Blocks recognised by the sentence they open with; the outermost block that opens so goes (box and button).
BLOCK_OPENINGS = (
    "Was this content helpful?",
    "¿Este contenido te fue útil?",
    "What are your thoughts?",
    "¿Qué opinas?",
    "We encourage readers to copy and distribute our work",
    "Alentamos a los lectores a copiar y distribuir",
)
SHARE_LINE = re.compile(r"^(share|compartir)(\s+icon)*$", re.I)
FEED_FOOTER = re.compile(r"^The post .{1,400} appeared first on InSight Crime\.?$", re.S)
# Phrases that must never survive cleaning: counted as a quality flag when they do.
LEAK_PHRASES = (
    "Was this content helpful?",
    "What are your thoughts?",
    "Click here to send InSight Crime",
    "We encourage readers to copy and distribute",
    "appeared first on InSight Crime",
    "Related Content",
    "About InSight Crime",
    "¿Este contenido te fue útil?",
    "Contenido relacionado",
)
_BLOCK = (
    "*[self::p or self::div or self::section or self::aside or self::h2 or self::h3 or self::h4 or self::h5]"
)
_HEADING = "*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5 or self::h6]"
_CONTAINERS = {"body", "main", "article", "html"}
_MAX_BOX_CHARS = 1500  # a "box" longer than this is a wrapper that merely starts with the phrase


def _remove(element) -> None:
    """Detach an element, keeping its tail text in place."""
    parent = element.getparent()
    if parent is None:
        return
    if element.tail and element.tail.strip():
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _outermost(elements: list) -> list:
    chosen = set(elements)
    return [e for e in elements if not any(a in chosen for a in e.iterancestors())]


def _literal(text: str) -> str:
    return f"'{text}'" if "'" not in text else f'"{text}"'


def _outermost_opening(element, phrase: str):
    """Climb from the element holding the phrase to the largest block that still opens with it."""
    if element is None or element.tag in _CONTAINERS:
        return None
    box = element
    while True:
        parent = box.getparent()
        if parent is None or parent.tag in _CONTAINERS:
            break
        text = parent.text_content()
        if len(text) > _MAX_BOX_CHARS or not " ".join(text.split()).startswith(phrase):
            break
        box = parent
    return box


def strip_chrome(tree: lxml_html.HtmlElement) -> list[str]:
    """Remove InSight Crime's chrome from the tree in place; returns the names of the rules that fired.

    XPath (evaluated in C) does the text matching, so the cost stays small next to trafilatura's own.
    """
    fired = []
    named = " or ".join(f"normalize-space(.)={_literal(t)}" for t in SECTION_HEADINGS)
    for heading in tree.xpath(f"//{_HEADING}[{named}]"):
        section = heading.getparent()
        if section is None:
            continue
        if section.tag in _CONTAINERS or "entry-content" in (section.get("class") or ""):
            for sibling in list(heading.itersiblings()):  # the heading opens the rest of its container
                _remove(sibling)
            _remove(heading)
        else:
            _remove(section)
        fired.append("section")
    for heading in tree.xpath("//h1"):  # the article header: kicker, title, meta line (the title is metadata)
        header = heading.getparent()
        if header is not None and header.tag not in _CONTAINERS and len(header.text_content()) < 600:
            _remove(header)
        else:
            _remove(heading)
        fired.append("header")
    opening = " or ".join(f"starts-with(normalize-space(.), {_literal(p)})" for p in BLOCK_OPENINGS)
    for text_node in tree.xpath(f"//text()[{opening}]"):  # text nodes are small: cheap to test, unlike blocks
        phrase = next(p for p in BLOCK_OPENINGS if " ".join(text_node.split()).startswith(p))
        owner = text_node.getparent()
        box = _outermost_opening(owner.getparent() if text_node.is_tail else owner, phrase)
        if box is not None:
            _remove(box)
            fired.append(f"block:{phrase[:24]}")
    for text_node in tree.xpath("//text()[normalize-space(.)='share' or normalize-space(.)='compartir']"):
        box = text_node.getparent().getparent() if text_node.is_tail else text_node.getparent()
        while box is not None and box.getparent() is not None and box.getparent().tag not in _CONTAINERS:
            parent_text = " ".join(box.getparent().text_content().split())
            if not SHARE_LINE.match(parent_text):
                break
            box = box.getparent()
        if (
            box is not None
            and box.tag not in _CONTAINERS
            and SHARE_LINE.match(" ".join(box.text_content().split()))
        ):
            _remove(box)
            fired.append("share")
    return fired


SEE_ALSO = ("SEE ALSO", "VER TAMBIÉN", "LEA TAMBIÉN", "READ MORE")


def unlink_see_also(tree: lxml_html.HtmlElement, page_url: str) -> dict[str, str]:
    """Turn "SEE ALSO:" cross-links into plain paragraphs; returns {plain line: markdown line with links}.

    Trafilatura drops short paragraphs that are mostly a link (link density), which is exactly what a cross-link
    is. Unlinked, they survive extraction in place; the markdown gets its links back from the returned map.
    """
    restored = {}
    condition = " or ".join(f"starts-with(normalize-space(.), '{label}')" for label in SEE_ALSO)
    for para in tree.xpath(f"//p[{condition}]"):
        links = para.xpath(".//a[@href]")
        if not links:
            continue
        markdown = " ".join(para.text_content().split())
        for link in links:
            label = " ".join(link.text_content().split())
            if label:
                target = urljoin(page_url, link.get("href"))
                markdown = markdown.replace(label, f"[{label}]({target})", 1)
        plain = " ".join(para.text_content().split())
        for child in list(para):
            para.remove(child)
        para.text = plain
        restored[plain] = markdown
    return restored


def clean_lines(paragraphs: list[str]) -> list[str]:
    """Drop feed-only footers and stray chrome lines that slipped through extraction."""
    kept = []
    for para in paragraphs:
        if FEED_FOOTER.match(para) or SHARE_LINE.match(para) or para.strip().upper() in ("DONATE", "DONAR"):
            continue
        kept.append(para)
    return kept


def leaked_phrases(text: str) -> list[str]:
    return [p for p in LEAK_PHRASES if p in text]
