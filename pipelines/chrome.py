"""Page chrome, stripped before trafilatura sees the page, by the words a site profile lists (``CleanRules``).

Trafilatura alone keeps the comment prompt and, on some pages, the donation box or the licence paragraph. These
rules find that chrome by its text and its place in the tree (a heading that opens a section, a block that starts
with a known sentence), never by one guessed CSS class, so a redesign that keeps the words keeps working. The
words are the profile's (``spiders/sites/<site>.py``); this module holds no site's text. Stock WordPress plugin
chrome (Jetpack, author boxes, Yoast's table of contents, pull quotes) is the same on every site, so its markup and
labels live here, and the page title's header goes without taking headings of the body with it.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

from lxml import html as lxml_html

from spiders.sites import CleanRules

ENGINE_VERSION = (
    "2"  # bump with any change to what these rules remove: it is part of the extractor's identity
)

_BLOCK = (
    "*[self::p or self::div or self::section or self::aside or self::h2 or self::h3 or self::h4 or self::h5]"
)
_HEADING = "*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5 or self::h6]"
_CONTAINERS = {"body", "main", "article", "html"}
_MAX_BOX_CHARS = 1500  # a "box" longer than this is a wrapper that merely starts with the phrase
_MAX_HEADER_CHARS = (
    600  # the title's header (kicker, title, meta line) is short; a longer block holds the body
)
_MAX_META_CHARS = 200  # a byline/date line beside the title
_BODY_BLOCKS = {"p", "blockquote", "figure", "table", "pre", "ol"}  # what a meta line is not

# Stock WordPress plugin chrome, the same on every site: found by its markup (class tokens, ids) and, where a theme
# re-skins it, by the label it shows. Jetpack sharing/likes/related posts, author boxes, Yoast's table of contents.
PLUGIN_CLASSES = (
    "sharedaddy",
    "jetpack-likes-widget-wrapper",
    "jp-relatedposts",
    "wp-block-yoast-seo-table-of-contents",
    "yoast-table-of-contents",
    "author-bio",
    "author-box-wrap",
    "saboxplugin-wrap",
    "wp-block-post-author",
)
PLUGIN_IDS = ("jp-relatedposts",)
PLUGIN_LABELS = ("Share this:", "Like this:", "Related", "About the author", "Table of contents")
PULL_QUOTE_CLASSES = ("wp-block-pullquote", "pullquote", "td_pull_quote")  # removed when they repeat the body
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


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


def strip_chrome(tree: lxml_html.HtmlElement, rules: CleanRules) -> list[str]:
    """Remove the site's chrome from the tree in place; returns the names of the rules that fired.

    XPath (evaluated in C) does the text matching, so the cost stays small next to trafilatura's own.
    """
    fired = []
    share_line = _share_line(rules)
    named = " or ".join(f"normalize-space(.)={_literal(t)}" for t in rules.section_headings) or "false()"
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
    # The article header: kicker, title, meta line (the title is metadata). Body headings stay.
    for heading in _title_headings(tree):
        header = _header_box(heading)
        if header is None:  # the title shares its container with the body: take the title and its meta lines
            for sibling in _meta_siblings(heading, rules):
                _remove(sibling)
            header = heading
        _remove(header)
        fired.append("header")
    fired += strip_plugins(tree)
    opening = (
        " or ".join(f"starts-with(normalize-space(.), {_literal(p)})" for p in rules.block_openings)
        or "false()"
    )
    for text_node in tree.xpath(f"//text()[{opening}]"):  # text nodes are small: cheap to test, unlike blocks
        phrase = next(p for p in rules.block_openings if " ".join(text_node.split()).startswith(p))
        owner = text_node.getparent()
        box = _outermost_opening(owner.getparent() if text_node.is_tail else owner, phrase)
        if box is not None:
            _remove(box)
            fired.append(f"block:{phrase[:24]}")
    words = " or ".join(f"normalize-space(.)={_literal(w)}" for w in rules.share_words) or "false()"
    for text_node in tree.xpath(f"//text()[{words}]"):
        box = text_node.getparent().getparent() if text_node.is_tail else text_node.getparent()
        while box is not None and box.getparent() is not None and box.getparent().tag not in _CONTAINERS:
            parent_text = " ".join(box.getparent().text_content().split())
            if not share_line.match(parent_text):
                break
            box = box.getparent()
        if (
            box is not None
            and box.tag not in _CONTAINERS
            and share_line.match(" ".join(box.text_content().split()))
        ):
            _remove(box)
            fired.append("share")
    return fired


def _classes(tokens: tuple[str, ...]) -> str:
    return (
        " or ".join(f"contains(concat(' ', normalize-space(@class), ' '), ' {t} ')" for t in tokens)
        or "false()"
    )


def _title_headings(tree: lxml_html.HtmlElement) -> list:
    """The page title's h1: the one repeating og:title or <title>, else the first; body h1s are not titles."""
    headings = tree.xpath("//h1")
    query = "//meta[@property='og:title']/@content | //title/text()"
    titles = [" ".join(t.split()).casefold() for t in tree.xpath(query)]
    matching = [
        h
        for h in headings
        if (text := " ".join(h.text_content().split()).casefold())
        and any(t == text or (len(text) >= 12 and t.startswith(text)) for t in titles)
    ]
    return matching or headings[:1]


def _header_box(heading):
    """The title's own small container (kicker, title, meta line), climbing while it stays one; None if shared."""
    box = None
    candidate = heading.getparent()
    while candidate is not None and candidate.tag not in _CONTAINERS:
        headings = candidate.xpath(f".//{_HEADING}")
        if (
            len(candidate.text_content()) >= _MAX_HEADER_CHARS
            or headings != [heading]
            or len(candidate.xpath(".//p")) > 1
            or "entry-content" in (candidate.get("class") or "")
        ):
            break
        box, candidate = candidate, candidate.getparent()
    return box


def _meta_siblings(heading, rules: CleanRules) -> list:
    """Short lines right before and after a title that shares its container with the body (kicker, byline)."""

    def is_meta(element) -> bool:
        text = " ".join(element.text_content().split())
        return (
            isinstance(element.tag, str)
            and element.tag not in _BODY_BLOCKS
            and not re.fullmatch(r"h[1-6]", element.tag)
            and len(text) < _MAX_META_CHARS
            and not element.xpath(
                "./descendant::*[self::p or self::blockquote or self::figure or self::h1 or self::h2 or self::h3 "
                "or self::h4 or self::h5 or self::h6]"
            )
            and not any(text.startswith(label) for label in rules.see_also)
        )

    found = []
    for siblings in (heading.itersiblings(), heading.itersiblings(preceding=True)):
        for sibling in siblings:
            if not is_meta(sibling):
                break
            found.append(sibling)
    return found


def strip_plugins(tree: lxml_html.HtmlElement) -> list[str]:
    """Remove stock plugin chrome (Jetpack, author boxes, Yoast TOC, duplicate pull quotes); returns rule names.

    One pass over the tree in Python: an XPath that normalises every element's class or text costs more than
    trafilatura itself.
    """
    fired = []
    plugin_classes, pull_classes = set(PLUGIN_CLASSES), set(PULL_QUOTE_CLASSES)
    labels = {label.lower() for label in PLUGIN_LABELS}
    longest = max(map(len, labels), default=0)
    boxes, owners, pulls = [], [], []
    for element in tree.iter(tag=lxml_html.etree.Element):
        classes = set((element.get("class") or "").split())
        if classes & plugin_classes or element.get("id") in PLUGIN_IDS:
            boxes.append(element)
        if classes & pull_classes:
            pulls.append(element)
        text = element.text
        if text and len(text) <= 2 * longest and " ".join(text.split()).lower() in labels:
            owners.append(element)
    for box in _outermost(boxes):
        if box.tag not in _CONTAINERS and len(box.text_content()) < 2 * _MAX_BOX_CHARS:
            _remove(box)
            fired.append("plugin")
    found = []
    for owner in owners:
        if owner.getparent() is None or " ".join(owner.text_content().split()).lower() not in labels:
            continue  # gone with a box already, or the label is only the start of a longer element
        while (  # the outermost element whose whole text is still just the label
            owner.getparent() is not None
            and " ".join(owner.getparent().text_content().split()).lower() in labels
        ):
            owner = owner.getparent()
        found.append(owner)
    for label in _outermost(list(dict.fromkeys(found))):
        if label.getparent() is None or label.xpath("ancestor::body") == []:
            continue
        box = label.getparent()
        if (
            box.tag in _CONTAINERS
            or "entry-content" in (box.get("class") or "")
            or len(box.text_content()) >= _MAX_BOX_CHARS
        ):
            box = label  # the label sits in a wrapper that holds more than its box: take the label alone
        _remove(box)
        fired.append("plugin-label")
    # The whole page's text: only when a pull quote needs it.
    page_text = " ".join(tree.text_content().split()) if pulls else ""
    for pull in _outermost(pulls):
        quoted = " ".join(" ".join(p.text_content().split()) for p in pull.xpath(".//p") or [pull])
        if quoted and page_text.count(quoted) >= 2:  # a pull quote repeats a sentence of the body
            _remove(pull)
            fired.append("pull-quote")
    return fired


def unlink_see_also(tree: lxml_html.HtmlElement, page_url: str, rules: CleanRules) -> dict[str, str]:
    """Turn "SEE ALSO:" cross-links (a p, div or span line) into plain paragraphs; returns {plain: markdown}.

    Trafilatura drops short paragraphs that are mostly a link (link density), which is exactly what a cross-link
    is. Unlinked, they survive extraction in place; the markdown gets its links back from the returned map.
    """
    restored = {}
    condition = " or ".join(f"starts-with(normalize-space(.), {_literal(label)})" for label in rules.see_also)
    if not condition:
        return restored
    lines = tree.xpath(f"//*[self::p or self::div or self::span or self::li][{condition}]")
    for para in _outermost([e for e in lines if len(e.text_content()) <= _MAX_META_CHARS]):
        links = para.xpath(".//a[@href]")
        if not links:
            continue
        if para.tag == "div":  # a line written as a div: a paragraph to the extractor
            para.tag = "p"
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


def clean_lines(paragraphs: list[str], rules: CleanRules) -> list[str]:
    """Drop feed-only footers and stray chrome lines that slipped through extraction."""
    kept = []
    share_line = _share_line(rules)
    standalone = {line.upper() for line in rules.standalone_lines}
    for para in paragraphs:
        footer = rules.feed_footer is not None and rules.feed_footer.match(para)
        if footer or share_line.match(para) or para.strip().upper() in standalone:
            continue
        kept.append(para)
    return kept


def leaked_phrases(text: str, rules: CleanRules) -> list[str]:
    return [p for p in rules.leak_phrases if p in text]


def _share_line(rules: CleanRules) -> re.Pattern:
    """A line made only of share-button labels ("share share", "compartir")."""
    words = "|".join(re.escape(w) for w in rules.share_words) or "(?!)"
    return re.compile(rf"^(?:{words})(?:\s+(?:{words}|icon))*$", re.I)
