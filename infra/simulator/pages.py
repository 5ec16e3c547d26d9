"""HTML of the simulated site: article pages with the live site's full chrome, and category listings.

The chrome follows the seed page's visible order (breadcrumb, kicker, title, meta line, body, share buttons,
donation box, comment prompt, licence, donation box, Latest News, Related Content, About InSight Crime) inside
WordPress/Newspack-like markup with Yoast JSON-LD, OpenGraph and hreflang alternates.
"""

from __future__ import annotations

import json
import random
from datetime import datetime

from . import themes
from .site import CATEGORY_BY_ID, CATEGORY_BY_SLUG, SITE_TZ, Post, Site

_CHROME = {
    "InSight Crime": {
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
            "share_row": "share share share",
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
            "share_row": "compartir compartir compartir",
        },
    },
    "Harbour Gazette": {  # exactly the phrases of spiders/sites/harbourgazette.py's clean rules
        "en": {
            "home": "Home",
            "share": "share",
            "share_row": "share tweet email",
            "helpful": "Support local journalism",
            "sustain": "Subscribe today and keep our reporters in the courtrooms and council meetings of the harbour.",
            "donate": "SUBSCRIBE",
            "latest": "Most Read",
            "related": "More from the Harbour",
            "about": None,
            "comment": None,
            "licence": None,
            "by": "By",
            "kicker": "LOCAL NEWS",
        },
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


esc = themes.esc


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def display_date(dt: datetime) -> str:
    return (dt + SITE_TZ).strftime("%-d %b %Y").upper()


def _teasers(site: Site, post: Post, base: str, count: int) -> list[Post]:
    """Stable neighbours: chrome that changes with every new post would defeat conditional GETs."""
    rng = random.Random(post.seed + 11)
    pool = [p for p in site.ordered[-200:] if p.lang == post.lang and p.id != post.id]
    return rng.sample(pool, k=min(count, len(pool)))


def json_ld(post: Post, url: str, base: str, brand: str = "InSight Crime") -> str:
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
            "name": f"{post.title} - {brand}",
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
        {"@type": "Organization", "@id": f"{base}/#organization", "name": brand, "url": f"{base}/"},
    ]
    return json.dumps({"@context": "https://schema.org", "@graph": graph}, ensure_ascii=False)


def _words(brand: str, lang: str) -> dict[str, str | None]:
    """The chrome's words: the brand's own (its profile's clean rules name them), else InSight Crime's."""
    editions = _CHROME.get(brand, _CHROME["InSight Crime"])
    return editions.get(lang) or next(iter(editions.values()))


def article_page(
    site: Site, post: Post, base: str, trap_url: str | None = None, theme: str | None = None
) -> str:
    """The post's page in `theme` (default: the site spec's theme), with the spec's brand in its chrome."""
    spec = getattr(site, "spec", None)
    theme = theme or getattr(spec, "theme", "newspack")
    brand = getattr(spec, "name", "InSight Crime")
    words = _words(brand, post.lang)
    url = base + post.path
    category = CATEGORY_BY_SLUG[post.category]
    parent = CATEGORY_BY_ID.get(category.parent)
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
    crumbs = [f'<span><a href="{base}/">{words["home"]}</a></span>']
    if parent and parent.slug != category.slug:
        crumbs.append(f'<span><a href="{base}/{parent.path}/">{esc(parent.name)}</a></span>')
    crumbs.append(f'<span><a href="{base}/{category.path}/">{esc(category.name)}</a></span>')
    crumbs.append(f'<span class="breadcrumb_last" aria-current="page">{esc(post.title)}</span>')
    image = (
        f'<meta property="og:image" content="{esc(post.featured_image)}" />' if post.featured_image else ""
    )
    neighbours = _teasers(site, post, base, 11)
    teasers = [
        (p.tags[0].upper() if p.tags else "", p.title, base + p.path, display_date(p.published))
        for p in neighbours[:3]
    ]
    latest_html = "".join(f'<li><a href="{base}{p.path}">{esc(p.title)}</a></li>' for p in neighbours[3:8])
    about = [(k, title, f"{base}/about/", date, text) for k, title, date, text in _ABOUT_CARDS]
    head = f"""<link rel="canonical" href="{esc(url)}" />
{hreflang}
<meta property="og:locale" content="{"es_ES" if post.lang == "es" else "en_US"}" />
<meta property="og:type" content="article" />
<meta property="og:title" content="{esc(post.title)}" />
<meta property="og:description" content="{esc(post.title)}" />
<meta property="og:url" content="{esc(url)}" />
<meta property="og:site_name" content="{esc(brand)}" />
<meta property="article:published_time" content="{iso(post.published)}" />
<meta property="article:modified_time" content="{iso(post.modified)}" />
{image}
<meta name="author" content="{esc(", ".join(post.authors))}" />
<script type="application/ld+json" class="yoast-schema-graph">{json_ld(post, url, base, brand)}</script>
<link rel="shortlink" href="{base}/?p={post.id}" />
<link rel="alternate" type="application/rss+xml" title="{esc(brand)} &raquo; Feed" href="{base}/feed/" />"""
    if brand == "InSight Crime":
        nav = (
            f'<li><a href="{base}/news/">News</a></li>\n<li><a href="{base}/investigations/">Investigations</a></li>'
            f'<li><a href="{base}/about-us/">About</a></li>'
        )
    else:
        roots = [c for c in spec.categories if c.parent == 0 and c.lang == post.lang]
        nav = "".join(f'<li><a href="{base}{c.archive}">{esc(c.name)}</a></li>' for c in roots)
    page = themes.Page(
        brand=brand,
        lang=post.lang,
        post_id=post.id,
        title=post.title,
        url=url,
        base=base,
        words=words,
        authors=[(a, f"{base}/author/{a.lower().replace(' ', '-')}/") for a in post.authors],
        tags=[(t, f"{base}/tag/{t.lower().replace(' ', '-')}/") for t in post.tags],
        category=(category.name, f"{base}/{category.path}/", category.slug),
        published=iso(post.published),
        modified=iso(post.modified),
        published_display=display_date(post.published),
        body_html=post.body_html(),
        crumbs_html=" › ".join(crumbs),
        nav_html=nav,
        head_html=head,
        lang_switch_html=lang_switch,
        related=[(p.title, base + p.path, display_date(p.published)) for p in neighbours[8:11]],
        teasers=teasers,
        latest_html=latest_html,
        about=about if words.get("about") else [],
        trap_html=f'<a class="partner" href="{esc(trap_url)}">Partner site</a>' if trap_url else "",
    )
    return themes.render(theme, page)


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
