"""HTML of the simulated site: article pages with the live site's full chrome, and category listings.

The chrome follows the seed page's visible order (breadcrumb, kicker, title, meta line, body, share buttons,
donation box, comment prompt, licence, donation box, Latest News, Related Content, About InSight Crime) inside
WordPress/Newspack-like markup with Yoast JSON-LD, OpenGraph and hreflang alternates.
"""

from __future__ import annotations

import html
import json
import random
from datetime import datetime

from .site import CATEGORY_BY_SLUG, SITE_TZ, Post, Site

_CHROME = {
    "en": {
        "home": "Home",
        "share": "share",
        "helpful": "Was this content helpful?",
        "sustain": "We want to sustain Latin America’s largest organized crime database, but in order to do so, "
        "we need resources.",
        "donate": "DONATE",
        "latest": "Latest News",
        "related": "Related Content",
        "about": "About InSight Crime",
        "comment": 'What are your thoughts? <a href="/contact-us/">Click here</a> to send InSight Crime your comments.',
        "licence": "We encourage readers to copy and distribute our work for non-commercial purposes, with "
        "attribution to InSight Crime in the byline and links to the original at both the top and "
        'bottom of the article. Check the <a href="https://creativecommons.org/">Creative Commons</a> '
        "website for more details of how to share our work, and please send us an email if you use an "
        "article.",
        "by": "by",
        "kicker": "BRIEF",
    },
    "es": {
        "home": "Inicio",
        "share": "compartir",
        "helpful": "¿Este contenido te fue útil?",
        "sustain": "Queremos sostener la base de datos sobre crimen organizado más grande de América Latina, pero "
        "para hacerlo necesitamos recursos.",
        "donate": "DONAR",
        "latest": "Últimas noticias",
        "related": "Contenido relacionado",
        "about": "Sobre InSight Crime",
        "comment": '¿Qué opinas? <a href="/es/contacto/">Haz clic aquí</a> para enviar tus comentarios a InSight Crime.',
        "licence": "Alentamos a los lectores a copiar y distribuir nuestro trabajo con fines no comerciales, "
        "citando a InSight Crime en la firma y con enlaces al original al principio y al final del "
        "artículo. Consulte el sitio web de Creative Commons para más detalles.",
        "by": "por",
        "kicker": "NOTICIAS DEL DÍA",
    },
}
_ABOUT_CARDS = [
    (
        "THE ORGANIZATION",
        "All Eyes on Ecuador",
        "2 JUN 2023",
        "Our coverage of organized crime in Ecuador continues to be a valuable resource for international and local "
        "news outlets.",
    ),
    (
        "WORK WITH US",
        "Open Position: Social Media and Engagement Strategist",
        "27 MAY 2023",
        "InSight Crime is looking for a Social Media and Engagement Strategist.",
    ),
    (
        "THE ORGANIZATION",
        "Venezuela Coverage Receives Great Reception",
        "27 MAY 2023",
        "Several of InSight Crime’s most recent articles about Venezuela have been well received by regional media.",
    ),
    (
        "THE ORGANIZATION",
        "InSight Crime's Chemical Precursor Report Continues",
        "19 MAY 2023",
        "For the second week in a row, our investigation into the flow of precursor chemicals has been cited.",
    ),
    (
        "THE ORGANIZATION",
        "InSight Crime’s Chemical Precursor Report Widely Cited",
        "12 MAY 2023",
        "We are proud to see that our recently published investigation has been warmly received.",
    ),
]


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def display_date(dt: datetime) -> str:
    return (dt + SITE_TZ).strftime("%-d %b %Y").upper()


def _teasers(site: Site, post: Post, base: str, count: int) -> list[Post]:
    """Stable neighbours: chrome that changes with every new post would defeat conditional GETs."""
    rng = random.Random(post.seed + 11)
    pool = [p for p in site.ordered[-200:] if p.lang == post.lang and p.id != post.id]
    return rng.sample(pool, k=min(count, len(pool)))


def json_ld(post: Post, url: str, base: str) -> str:
    category = CATEGORY_BY_SLUG[post.category]
    graph = [
        {
            "@type": "NewsArticle",
            "@id": f"{url}#article",
            "isPartOf": {"@id": url},
            "author": [
                {"name": a, "@id": f"{base}/#/schema/person/{abs(hash(a)) % 10**8}"} for a in post.authors
            ],
            "headline": post.title,
            "datePublished": iso(post.published),
            "dateModified": iso(post.modified),
            "mainEntityOfPage": {"@id": url},
            "publisher": {"@id": f"{base}/#organization"},
            "keywords": post.tags,
            "articleSection": [category.name],
            "inLanguage": "es" if post.lang == "es" else "en-US",
        },
        {
            "@type": "WebPage",
            "@id": url,
            "url": url,
            "name": f"{post.title} - InSight Crime",
            "datePublished": iso(post.published),
            "dateModified": iso(post.modified),
        },
        {
            "@type": "BreadcrumbList",
            "@id": f"{url}#breadcrumb",
            "itemListElement": [
                {"@type": "ListItem", "position": 1, "name": "Home", "item": f"{base}/"},
                {
                    "@type": "ListItem",
                    "position": 2,
                    "name": category.name,
                    "item": f"{base}/{category.path}/",
                },
                {"@type": "ListItem", "position": 3, "name": post.title},
            ],
        },
        {"@type": "Organization", "@id": f"{base}/#organization", "name": "InSight Crime", "url": f"{base}/"},
    ]
    return json.dumps({"@context": "https://schema.org", "@graph": graph}, ensure_ascii=False)


def article_page(site: Site, post: Post, base: str, trap_url: str | None = None) -> str:
    words = _CHROME[post.lang]
    url = base + post.path
    category = CATEGORY_BY_SLUG[post.category]
    parent = CATEGORY_BY_SLUG.get("news" if post.lang == "en" else "noticias")
    alternates = [(post.lang, url)]
    other = site.posts.get(post.translation or -1)
    if other is not None and other.gone is None:
        alternates.append((other.lang, base + other.path))
    hreflang = "\n".join(
        f'<link rel="alternate" hreflang="{lang}" href="{esc(href)}" />' for lang, href in alternates
    )
    lang_switch = "".join(
        f'<a class="lang-switch" hreflang="{lang}" href="{esc(href)}">{lang.upper()}</a>'
        for lang, href in alternates
    )
    tag = post.tags[0] if post.tags else ""
    crumbs = [f'<span><a href="{base}/">{words["home"]}</a></span>']
    if parent and parent.slug != category.slug:
        crumbs.append(f'<span><a href="{base}/{parent.path}/">{esc(parent.name)}</a></span>')
    crumbs.append(f'<span><a href="{base}/{category.path}/">{esc(category.name)}</a></span>')
    crumbs.append(f'<span class="breadcrumb_last" aria-current="page">{esc(post.title)}</span>')
    authors = " and ".join(
        f'<span class="author vcard"><a class="url fn n" href="{base}/author/{a.lower().replace(" ", "-")}/">'
        f"{esc(a)}</a></span>"
        for a in post.authors
    )
    description = esc(post.title)
    image = (
        f'<meta property="og:image" content="{esc(post.featured_image)}" />' if post.featured_image else ""
    )
    donation = (
        f'<div class="wp-block-group donation-box"><h3 class="wp-block-heading">{words["helpful"]}</h3>'
        f'<p>{words["sustain"]}</p><div class="wp-block-buttons"><div class="wp-block-button">'
        f'<a class="wp-block-button__link" href="{base}/donate/">{words["donate"]}</a></div></div></div>'
    )
    teaser_html = "".join(
        f'<article class="teaser"><span class="cat-links">{esc(p.tags[0].upper() if p.tags else "")}</span> / '
        f'<time>{display_date(p.published)}</time><h3 class="entry-title"><a href="{base}{p.path}">{esc(p.title)}'
        f"</a></h3></article>"
        for p in _teasers(site, post, base, 3)
    )
    latest_html = "".join(
        f'<li><a href="{base}{p.path}">{esc(p.title)}</a></li>' for p in _teasers(site, post, base, 8)[3:]
    )
    about_html = "".join(
        f'<article class="about-card"><span class="cat-links">{kicker}</span><h3><a href="{base}/about/">'
        f"{esc(title)}</a></h3><time>{date}</time><p>{esc(text)}</p></article>"
        for kicker, title, date, text in _ABOUT_CARDS
    )
    trap = f'<a class="partner" href="{esc(trap_url)}">Partner site</a>' if trap_url else ""
    return f"""<!doctype html>
<html lang="{"es" if post.lang == "es" else "en-US"}">
<head>
<meta charset="UTF-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>{esc(post.title)} - InSight Crime</title>
<meta name="robots" content="index, follow, max-image-preview:large" />
<link rel="canonical" href="{esc(url)}" />
{hreflang}
<meta property="og:locale" content="{"es_ES" if post.lang == "es" else "en_US"}" />
<meta property="og:type" content="article" />
<meta property="og:title" content="{esc(post.title)}" />
<meta property="og:description" content="{description}" />
<meta property="og:url" content="{esc(url)}" />
<meta property="og:site_name" content="InSight Crime" />
<meta property="article:published_time" content="{iso(post.published)}" />
<meta property="article:modified_time" content="{iso(post.modified)}" />
{image}
<meta name="author" content="{esc(", ".join(post.authors))}" />
<script type="application/ld+json" class="yoast-schema-graph">{json_ld(post, url, base)}</script>
<link rel="shortlink" href="{base}/?p={post.id}" />
<link rel="alternate" type="application/rss+xml" title="InSight Crime &raquo; Feed" href="{base}/feed/" />
</head>
<body class="post-template-default single single-post postid-{post.id} single-format-standard">
<a class="skip-link screen-reader-text" href="#main">Skip to content</a>
<header id="masthead" class="site-header"><div class="site-branding"><a href="{base}/" rel="home">InSight Crime</a>
</div><nav id="site-navigation" class="main-navigation"><ul><li><a href="{base}/news/">News</a></li>
<li><a href="{base}/investigations/">Investigations</a></li><li><a href="{base}/about-us/">About</a></li>{trap}</ul>
</nav></header>
<div id="content" class="site-content">
<nav class="yoast-breadcrumbs"><span>{" › ".join(crumbs)}</span></nav>
<main id="main" class="site-main">
<article id="post-{post.id}" class="post-{post.id} post type-post status-publish format-standard has-post-thumbnail
 hentry category-{category.slug}">
<header class="entry-header">
<div class="cat-links"><a href="{base}/{category.path}/" rel="category tag">{words["kicker"]}</a></div>
<h1 class="entry-title">{esc(post.title)}</h1>
<div class="entry-meta"><span class="tag-links"><a href="{base}/tag/{tag.lower().replace(" ", "-")}/" rel="tag">
{esc(tag.upper())}</a></span> / <time class="entry-date published" datetime="{iso(post.published)}">
{display_date(post.published)}</time><time class="updated" datetime="{iso(post.modified)}"></time>
<span class="byline">{words["by"]} {authors}</span> <span class="lang-links">{lang_switch}</span></div>
</header>
<div class="entry-content">
{post.body_html()}
</div>
<div class="sharedaddy sd-sharing-enabled"><div class="sd-content"><span class="share-label">{words["share"]}</span>
<a class="share-facebook" href="#"><span class="icon">icon</span></a> <a class="share-twitter" href="#">
<span class="icon">icon</span></a> <a class="share-email" href="#"><span class="icon">icon</span></a></div></div>
{donation}
<div class="comment-prompt"><p>{words["comment"]}</p></div>
<div class="wp-block-group license"><p>{words["licence"]}</p></div>
{donation}
</article>
<section class="latest-news widget"><h2 class="widget-title">{words["latest"]}</h2><ul>{latest_html}</ul></section>
<section class="related-content"><h2 class="section-title">{words["related"]}</h2>{teaser_html}</section>
<section class="about-insight-crime"><h2 class="section-title">{words["about"]}</h2>{about_html}</section>
</main></div>
<footer id="colophon" class="site-footer"><p>© InSight Crime. All rights reserved.</p></footer>
</body>
</html>
"""


def listing_page(
    site: Site, posts: list[Post], base: str, title: str, page: int, pages: int, path: str
) -> str:
    """A category archive page: ten teasers, newest first, with pagination links."""
    items = "".join(
        f'<article class="post-{p.id} post type-post"><h2 class="entry-title"><a href="{base}{p.path}" '
        f'rel="bookmark">{esc(p.title)}</a></h2><time class="entry-date published" datetime="{iso(p.published)}">'
        f"{display_date(p.published)}</time></article>\n"
        for p in posts
    )
    nav = ""
    if page < pages:
        nav += f'<a class="next page-numbers" href="{base}{path}page/{page + 1}/">Next</a>'
    if page > 1:
        nav += f'<a class="prev page-numbers" href="{base}{path}page/{page - 1}/">Previous</a>'
    return (
        f'<!doctype html><html lang="en-US"><head><meta charset="UTF-8" /><title>{esc(title)} - InSight Crime'
        f'</title></head><body class="archive category"><main id="main"><h1 class="page-title">{esc(title)}</h1>\n'
        f'{items}<nav class="navigation pagination">{nav}</nav></main></body></html>'
    )
