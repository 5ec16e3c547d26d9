"""The article page in three WordPress themes, with the stock plugin markup every theme carries.

One article, three markups: extraction must not depend on one theme's classes. ``newspack`` is the live
InSight Crime page (Yoast JSON-LD, semantic tags); ``tagdiv`` an older tagDiv/Newspaper theme with OpenGraph but
no JSON-LD; ``plain`` a div-only layout with minimal meta. Every theme gets Jetpack sharing, likes and related
posts, an author bio box, a Yoast table of contents and a pull quote, and bodies carry the quirks real posts have
(an inline HTML comment, a processing instruction, SEE ALSO lines that are not paragraphs).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

THEMES = ("newspack", "tagdiv", "plain")


def esc(text: str) -> str:
    return html.escape(text, quote=True)


@dataclass(frozen=True)
class Page:
    """Everything a theme needs, already computed and escaped where it is markup (``*_html``)."""

    brand: str
    lang: str
    post_id: int
    title: str
    url: str
    base: str
    words: dict[str, str | None]
    authors: list[tuple[str, str]]  # (name, author page URL)
    tags: list[tuple[str, str]]  # (name, tag page URL)
    category: tuple[str, str, str]  # (name, archive URL, slug)
    published: str  # ISO 8601
    modified: str
    published_display: str
    body_html: str
    crumbs_html: str
    nav_html: str
    head_html: str  # canonical, hreflang, OpenGraph, JSON-LD: what the newspack theme prints
    lang_switch_html: str
    related: list[tuple[str, str, str]]  # (title, URL, display date): Jetpack related posts
    teasers: list[tuple[str, str, str, str]]  # the site's "related" section: (kicker, title, URL, date)
    latest_html: str  # the site's "latest" list
    about: list[tuple[str, str, str, str, str]]  # the site's "about" cards (kicker, title, URL, date, text)
    trap_html: str


# ---- bodies ---------------------------------------------------------------------------------------------------
_PARA = re.compile(r'<p class="wp-block-paragraph">(.*?)</p>', re.S)
_HEADING = re.compile(r'<h([1-6]) class="wp-block-heading">(.*?)</h\1>', re.S)
_SEE_ALSO = re.compile(
    r'<blockquote class="wp-block-quote[^"]*">\s*<p class="wp-block-paragraph">((?:<em>)?SEE ALSO:.*?)</p>\s*'
    r"</blockquote>",
    re.S,
)
_PULL_AS = {  # the block editor's pull quote; before WordPress 5.2 it saved a bare blockquote
    "newspack": '<figure class="wp-block-pullquote"><blockquote><p>{quote}</p><cite>{cite}</cite></blockquote></figure>',
    "tagdiv": '<blockquote class="wp-block-pullquote"><p>{quote}</p><cite>{cite}</cite></blockquote>',
    "plain": '<figure class="wp-block-pullquote"><blockquote><p>{quote}</p><cite>{cite}</cite></blockquote></figure>',
}
_SEE_ALSO_AS = {  # how each theme's editor ends up writing a cross-link line
    "newspack": None,  # the block editor's quote > paragraph
    "tagdiv": '<div class="td-see-also">{}</div>',  # a classic-editor div
    "plain": '<div class="crosslink"><span class="crosslink-label">{}</span></div>',  # a span inside a div
}


def _text(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", markup)).split())


def _slug(text: str) -> str:
    return "h-" + re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _split_at_middle(match: re.Match, insert: str) -> str:
    """Put `insert` at a word break in the middle of the paragraph's leading plain text (never inside a tag)."""
    inner = match.group(1)
    lead = inner.split("<", 1)[0]
    middle = lead.find(" ", len(lead) // 2)
    if middle < 0:
        return match.group(0)
    return f'<p class="wp-block-paragraph">{inner[:middle]} {insert}{inner[middle:]}</p>'


def body_for(body: str, theme: str, cite: str = "") -> tuple[str, list[tuple[str, str]]]:
    """The post body as the theme's page prints it; returns (markup, table of contents entries)."""
    paragraphs = [m for m in _PARA.finditer(body) if len(_text(m.group(1))) > 40]
    quote = re.split(r"(?<=[.!?])\s", _text(paragraphs[-1].group(1)))[0] if paragraphs else ""
    for index, insert in ((1, "<?php echo $ad_slot; ?>"), (0, "<!-- wp:comment -->")):  # back to front
        if len(paragraphs) > index:
            m = paragraphs[index]
            body = body[: m.start()] + _split_at_middle(m, insert) + body[m.end() :]
    if quote and len(paragraphs) > 2:  # a pull quote repeating the last paragraph's first sentence
        cut = _PARA.search(body, _PARA.search(body).end()).end()
        pull = "\n\n" + _PULL_AS[theme].format(quote=esc(quote), cite=esc(cite))
        body = body[:cut] + pull + body[cut:]
    toc = [(_slug(_text(m.group(2))), _text(m.group(2))) for m in _HEADING.finditer(body)]
    body = _HEADING.sub(
        lambda m: f'<h{m[1]} class="wp-block-heading" id="{_slug(_text(m[2]))}">{m[2]}</h{m[1]}>', body
    )
    template = _SEE_ALSO_AS[theme]
    if template:
        body = _SEE_ALSO.sub(lambda m: template.format(m.group(1)), body)
    return body, toc


# ---- stock plugin markup (identical under every theme) ------------------------------------------------------
def yoast_toc(entries: list[tuple[str, str]]) -> str:
    if not entries:
        return ""
    items = "".join(
        f'<li><a href="#{anchor}" data-level="2">{esc(text)}</a></li>' for anchor, text in entries
    )
    return (
        '<div class="wp-block-yoast-seo-table-of-contents yoast-table-of-contents"><h2>Table of contents</h2>'
        f"<ul>{items}</ul></div>\n"
    )


def jetpack(page: Page, sharing: bool = True) -> str:
    """Jetpack's sharing buttons, likes and related posts, as it appends them to the content."""
    related = "".join(
        f'<div class="jp-relatedposts-post jp-relatedposts-post{i}"><h4 class="jp-relatedposts-post-title">'
        f'<a class="jp-relatedposts-post-a" href="{esc(url)}">{esc(title)}</a></h4>'
        f'<p class="jp-relatedposts-post-date">{date}</p><p class="jp-relatedposts-post-context">In '
        f"&quot;{esc(page.category[0])}&quot;</p></div>"
        for i, (title, url, date) in enumerate(page.related[:3])
    )
    share = (
        '<div class="sharedaddy sd-sharing-enabled"><div class="robots-nocontent sd-block sd-social '
        'sd-social-icon-text sd-sharing"><h3 class="sd-title">Share this:</h3><div class="sd-content"><ul>'
        '<li class="share-twitter"><a class="share-twitter sd-button" href="?share=twitter"><span>Twitter</span>'
        '</a></li><li class="share-facebook"><a class="share-facebook sd-button" href="?share=facebook">'
        '<span>Facebook</span></a></li><li class="share-end"></li></ul></div></div></div>\n'
    )
    return (
        (share if sharing else "")
        + f'<div id="like-post-wrapper-1-{page.post_id}" class="sharedaddy sd-block sd-like '
        'jetpack-likes-widget-wrapper jetpack-likes-widget-unloaded"><h3 class="sd-title">Like this:</h3>'
        '<div class="likes-widget-placeholder post-likes-widget-placeholder"><span class="button"><span>Like'
        '</span></span> <span class="loading">Loading...</span></div></div>\n'
        '<div id="jp-relatedposts" class="jp-relatedposts"><h3 class="jp-relatedposts-headline"><em>Related'
        f'</em></h3><div class="jp-relatedposts-items jp-relatedposts-items-visual">{related}</div></div>\n'
    )


def _bio(page: Page) -> str:
    name, link = page.authors[0] if page.authors else (page.brand, page.base + "/")
    return (
        f"{esc(name)} writes about organized crime, security and the courts for {esc(page.brand)}. "
        f'<a href="{esc(link)}">More articles by {esc(name)}</a>'
    )


# ---- themes ---------------------------------------------------------------------------------------------------
def _cards(page: Page, box: str, date: str) -> tuple[str, str]:
    """The teaser and about cards in the theme's tags (`box` holds a card, `date` its date)."""
    teasers = "".join(
        f'<{box} class="teaser"><span class="cat-links">{esc(kicker)}</span> / <{date}>{when}</{date}>'
        f'<h3 class="entry-title"><a href="{esc(url)}">{esc(title)}</a></h3></{box}>'
        for kicker, title, url, when in page.teasers
    )
    about = "".join(
        f'<{box} class="about-card"><span class="cat-links">{kicker}</span><h3><a href="{esc(url)}">'
        f"{esc(title)}</a></h3><{date}>{when}</{date}><p>{esc(text)}</p></{box}>"
        for kicker, title, url, when, text in page.about
    )
    return teasers, about


def _site_chrome(page: Page, share_html: str) -> str:
    """The site's own boxes after the body: share row, donation box, comment prompt, licence, donation box."""
    w = page.words
    donation = (
        f'<div class="wp-block-group donation-box"><h3 class="wp-block-heading">{w["helpful"]}</h3>'
        f'<p>{w["sustain"]}</p><div class="wp-block-buttons"><div class="wp-block-button">'
        f'<a class="wp-block-button__link" href="{page.base}/donate/">{w["donate"]}</a></div></div></div>'
    )
    comment = f'<div class="comment-prompt"><p>{w["comment"]}</p></div>\n' if w.get("comment") else ""
    licence = f'<div class="wp-block-group license"><p>{w["licence"]}</p></div>\n' if w.get("licence") else ""
    return f"{share_html}\n{donation}\n{comment}{licence}{donation}\n"


def _newspack(page: Page, body: str, toc: str) -> str:
    w = page.words
    teasers, about = _cards(page, "article", "time")
    authors = " and ".join(
        f'<span class="author vcard"><a class="url fn n" href="{esc(link)}">{esc(name)}</a></span>'
        for name, link in page.authors
    )
    tag_name, tag_url = page.tags[0] if page.tags else ("", page.base + "/tag//")
    share = (
        '<div class="sharedaddy sd-sharing-enabled"><h3 class="sd-title">Share this:</h3><div class="sd-content">'
        f'<span class="share-label">{w["share"]}</span>\n<a class="share-facebook" href="#"><span class="icon">'
        'icon</span></a> <a class="share-twitter" href="#">\n<span class="icon">icon</span></a> <a class="'
        'share-email" href="#"><span class="icon">icon</span></a></div></div>'
    )
    sections = (
        f'<section class="latest-news widget"><h2 class="widget-title">{w["latest"]}</h2><ul>{page.latest_html}'
        f'</ul></section>\n<section class="related-content"><h2 class="section-title">{w["related"]}</h2>'
        f"{teasers}</section>\n"
    )
    if about:
        sections += (
            f'<section class="about-insight-crime"><h2 class="section-title">{w["about"]}</h2>{about}'
            "</section>\n"
        )
    return f"""<!doctype html>
<html lang="{"es" if page.lang == "es" else "en-US"}">
<head>
<meta charset="UTF-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>{esc(page.title)} - {esc(page.brand)}</title>
<meta name="robots" content="index, follow, max-image-preview:large" />
{page.head_html}
</head>
<body class="post-template-default single single-post postid-{page.post_id} single-format-standard">
<a class="skip-link screen-reader-text" href="#main">Skip to content</a>
<header id="masthead" class="site-header"><div class="site-branding"><a href="{page.base}/" rel="home">{esc(page.brand)}</a>
</div><nav id="site-navigation" class="main-navigation"><ul>{page.nav_html}{page.trap_html}</ul>
</nav></header>
<div id="content" class="site-content">
<nav class="yoast-breadcrumbs"><span>{page.crumbs_html}</span></nav>
<main id="main" class="site-main">
<article id="post-{page.post_id}" class="post-{page.post_id} post type-post status-publish format-standard has-post-thumbnail
 hentry category-{page.category[2]}">
<header class="entry-header">
<div class="cat-links"><a href="{page.category[1]}" rel="category tag">{w["kicker"]}</a></div>
<h1 class="entry-title">{esc(page.title)}</h1>
<div class="entry-meta"><span class="tag-links"><a href="{esc(tag_url)}" rel="tag">
{esc(tag_name.upper())}</a></span> / <time class="entry-date published" datetime="{page.published}">
{page.published_display}</time><time class="updated" datetime="{page.modified}"></time>
<span class="byline">{w["by"]} {authors}</span> <span class="lang-links">{page.lang_switch_html}</span></div>
</header>
<div class="entry-content">
{toc}{body}
</div>
{_site_chrome(page, share)}{jetpack(page, sharing=False)}<div class="author-bio"><div class="author-bio-text">
<h2 class="accent-header">About the author</h2><p>{_bio(page)}</p></div></div>
</article>
{sections}</main></div>
<footer id="colophon" class="site-footer"><p>© {esc(page.brand)}. All rights reserved.</p></footer>
</body>
</html>
"""


def _tagdiv(page: Page, body: str, toc: str) -> str:
    w = page.words
    teasers, about_cards = _cards(page, "div", "span")
    authors = " and ".join(f'<a href="{esc(link)}">{esc(name)}</a>' for name, link in page.authors)
    tags = "".join(f'<li><a href="{esc(url)}">{esc(name)}</a></li>' for name, url in page.tags)
    share = (
        '<div class="td-post-sharing td-post-sharing-bottom"><div class="td-default-sharing">'
        + "".join(
            f'<a class="td-social-sharing-buttons td-social-{kind}" href="#"><span class="td-social-but-text">'
            f"{label}</span></a>"
            for kind, label in zip(("facebook", "twitter", "mail"), w["share_row"].split(), strict=True)
        )
        + "</div></div>"
    )
    about = (
        f'<div class="td_block_wrap td_block_about"><h4 class="block-title"><span>{w["about"]}</span></h4>'
        f"{about_cards}</div>"
        if about_cards
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="{page.lang}">
<head>
<title>{esc(page.title)} | {esc(page.brand)}</title>
<meta charset="UTF-8" />
<link rel="canonical" href="{esc(page.url)}" />
<meta property="og:type" content="article" />
<meta property="og:title" content="{esc(page.title)}" />
<meta property="og:url" content="{esc(page.url)}" />
<meta property="og:site_name" content="{esc(page.brand)}" />
<meta property="article:published_time" content="{page.published}" />
<meta property="article:modified_time" content="{page.modified}" />
</head>
<body class="post-template-default single single-post postid-{page.post_id} td-standard-pack td-full-layout">
<div id="td-outer-wrap" class="td-theme-wrap">
<div class="td-header-wrap td-header-style-1"><div class="td-header-menu-wrap-full"><div class="td-header-main-menu">
<ul id="menu-main" class="sf-menu">{page.nav_html}{page.trap_html}</ul></div></div><div class="td-header-sp-logo">
<a class="td-main-logo" href="{page.base}/"><span class="td-visual-hidden">{esc(page.brand)}</span></a></div></div>
<div class="td-main-content-wrap td-container-wrap"><div class="td-container td-post-template-default">
<div class="td-crumb-container"><div class="entry-crumbs">{page.crumbs_html}</div></div>
<div class="td-pb-row"><div class="td-pb-span8 td-main-content" role="main"><div class="td-ss-main-content">
<article id="post-{page.post_id}" class="post-{page.post_id} post type-post status-publish format-standard">
<div class="td-post-header"><ul class="td-category"><li class="entry-category"><a href="{page.category[1]}">
{esc(page.category[0])}</a></li></ul>
<header class="td-post-title"><h1 class="entry-title">{esc(page.title)}</h1>
<div class="td-module-meta-info"><div class="td-post-author-name">By {authors}</div>
<span class="td-post-date"><time class="entry-date updated td-module-date" datetime="{page.published}">
{page.published_display}</time></span><div class="td-post-views"><span class="td-nr-views-{page.post_id}">1204
</span></div></div>
</header></div>
<div class="td-post-content tagdiv-type">
{toc}{body}
{jetpack(page)}</div>
<footer><div class="td-post-source-tags"><ul class="td-tags td-post-small-box clearfix"><li><span>TAGS</span></li>
{tags}</ul></div>
{_site_chrome(page, share)}<div class="author-box-wrap"><h4 class="block-title"><span>About the author</span></h4>
<div class="desc"><div class="td-author-description"><p>{_bio(page)}</p></div></div></div>
</footer>
</article>
<div class="td_block_wrap td_block_related_posts"><h4 class="td-related-title"><a class="td-related-left" href="#">
{w["related"]}</a></h4><div class="td_block_inner">{teasers}</div></div>
</div></div>
<div class="td-pb-span4 td-main-sidebar" role="complementary"><aside class="td_block_template_1 widget">
<h4 class="block-title"><span>{w["latest"]}</span></h4><ul>{page.latest_html}</ul></aside>{about}</div>
</div></div></div>
<div class="td-footer-wrapper"><div class="td-sub-footer-copy">© {esc(page.brand)}</div></div>
</div>
</body>
</html>
"""


def _plain(page: Page, body: str, toc: str) -> str:
    w = page.words
    teasers, about_cards = _cards(page, "div", "span")
    byline = " and ".join(esc(name) for name, _ in page.authors)
    tags = ", ".join(f'<a href="{esc(url)}" rel="tag">{esc(name)}</a>' for name, url in page.tags)
    share = (
        '<div class="share-row">'
        + " ".join(f'<a href="#"><span>{label}</span></a>' for label in w["share_row"].split())
        + "</div>"
    )
    about = f'<div class="sidebar-box"><h3>{w["about"]}</h3>{about_cards}</div>' if about_cards else ""
    return f"""<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>{esc(page.title)} - {esc(page.brand)}</title>
<meta property="og:title" content="{esc(page.title)}">
<meta property="article:published_time" content="{page.published}">
<meta name="author" content="{esc(", ".join(name for name, _ in page.authors))}">
</head>
<body>
<div id="wrap">
<div id="top"><div class="logo"><a href="{page.base}/">{esc(page.brand)}</a></div>
<div class="menu">{page.nav_html}{page.trap_html}</div></div>
<div class="crumbs">{page.crumbs_html}</div>
<div id="post-{page.post_id}" class="post">
<h1>{esc(page.title)}</h1>
<div class="post-info">By {byline} | {page.published_display} | {tags}</div>
<div class="post-body">
{toc}{body}
{jetpack(page)}</div>
<div class="bio"><div class="bio-title">About the author</div><p>{_bio(page)}</p></div>
{_site_chrome(page, share)}</div>
<div class="sidebar">
<div class="sidebar-box"><h3>{w["related"]}</h3>{teasers}</div>
<div class="sidebar-box"><h3>{w["latest"]}</h3><ul>{page.latest_html}</ul></div>
{about}</div>
<div class="bottom">© {esc(page.brand)}</div>
</div>
</body>
</html>
"""


_RENDER = {"newspack": _newspack, "tagdiv": _tagdiv, "plain": _plain}


def render(theme: str, page: Page) -> str:
    """The article page in `theme` (one of ``THEMES``)."""
    if theme not in _RENDER:
        raise ValueError(f"unknown theme {theme!r}: expected one of {', '.join(THEMES)}")
    body, toc = body_for(page.body_html, theme, page.brand)
    return _RENDER[theme](page, body, yoast_toc(toc))
