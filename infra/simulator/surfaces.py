"""Machine-readable surfaces of the simulated site besides the REST API (``rest.py``): RSS 2.0 feeds, Yoast
sitemaps, robots.txt, and category archive paths.

Each function returns ``(status, headers, body)`` for one WordPress install (``rest.Install``); semantics follow
WordPress core (category feeds and archives include child categories) and Yoast (a sitemap lists every published
post of its install).
"""

from __future__ import annotations

import html
import math
from email.utils import format_datetime
from urllib.parse import parse_qs

from .pages import iso
from .rest import BadRequest, Install, error, parse_wp_date, post_json, rest_posts
from .site import Post, Site

SITEMAP_SIZE = 1000
FEED_SIZE = 10
NOT_FOUND = (404, {"Content-Type": "text/html; charset=UTF-8"}, b"<html><body>Page not found</body></html>")


def rss(
    site: Site, base: str, install: Install, lang: str, category: str | None, query: str
) -> tuple[int, dict, bytes]:
    """WordPress feeds: ten newest items, older ones through ``?paged=N`` (404 past the end).

    A category feed holds the posts of the category and of all its descendants, as WordPress category queries do.
    """
    params = parse_qs(query)
    page = int(params["paged"][0]) if params.get("paged", [""])[0].isdigit() else 1
    posts = [p for p in reversed(install.posts(site)) if p.lang == lang]
    if category:
        wanted = site.descendants(category)
        posts = [p for p in posts if p.category in wanted]
    chunk = posts[(page - 1) * FEED_SIZE : page * FEED_SIZE]
    if not chunk and page > 1:
        return NOT_FOUND
    brand = html.escape(site.spec.name, quote=False)
    home = install.url(base) + ("" if install.prefix or lang == site.spec.languages[0] else f"/{lang}")
    items = []
    for p in chunk:
        url = base + p.path
        cats = [site.category(p.category).name, *p.tags]
        title = html.escape(p.title, quote=False)
        appeared = (
            f'<p>The post <a href="{url}">{title}</a> appeared first on <a href="{home}">{brand}</a>.</p>'
        )
        items.append(
            f"<item>\n<title>{title}</title>\n<link>{url}</link>\n"
            f"<dc:creator><![CDATA[{' and '.join(p.authors)}]]></dc:creator>\n"
            f"<pubDate>{format_datetime(p.published, usegmt=False).replace('-0000', '+0000')}</pubDate>\n"
            + "".join(f"<category><![CDATA[{c}]]></category>\n" for c in cats)
            + f'<guid isPermaLink="false">{install.url(base)}/?p={p.id}</guid>\n'
            f"<description><![CDATA[<p>{title}</p>\n{appeared}]]></description>\n"
            f"<content:encoded><![CDATA[{p.body_html()}\n{appeared}]]></content:encoded>\n"
            f'<post-id xmlns="com-wordpress:feed-additions:1">{p.id}</post-id>\n</item>'
        )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        f'xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n<title>{brand}</title>\n'
        f"<link>{home}/</link>\n<description>{html.escape(site.spec.tagline, quote=False)}</description>\n"
        f"<language>{'es' if lang == 'es' else 'en-US'}</language>\n"
        + "\n".join(items)
        + "\n</channel>\n</rss>\n"
    )
    return 200, {"Content-Type": "application/rss+xml; charset=UTF-8"}, body.encode()


def _sitemap_posts(site: Site, install: Install) -> list[Post]:
    """Yoast lists every published post of its install (all categories) by modification time, oldest first."""
    return sorted(install.posts(site), key=lambda p: (p.modified, p.id))


def _xml(body: str) -> tuple[int, dict, bytes]:
    return 200, {"Content-Type": "text/xml; charset=UTF-8"}, body.encode()


def sitemap_index(site: Site, base: str, install: Install, core: bool = False) -> tuple[int, dict, bytes]:
    """Yoast's ``sitemap_index.xml`` (post-sitemapN.xml), or WordPress core's ``wp-sitemap.xml`` (5.5+, no
    lastmod, ``wp-sitemap-posts-post-N.xml``) on a site without Yoast."""
    posts = _sitemap_posts(site, install)
    root = install.url(base)
    entries = []
    for n in range(max(1, math.ceil(len(posts) / SITEMAP_SIZE))):
        chunk = posts[n * SITEMAP_SIZE : (n + 1) * SITEMAP_SIZE]
        if core:
            entries.append(f"<sitemap><loc>{root}/wp-sitemap-posts-post-{n + 1}.xml</loc></sitemap>")
            continue
        name = "post-sitemap.xml" if n == 0 else f"post-sitemap{n + 1}.xml"
        lastmod = iso(max(p.modified for p in chunk)) if chunk else iso(site.now)
        entries.append(f"<sitemap><loc>{root}/{name}</loc><lastmod>{lastmod}</lastmod></sitemap>")
    category = "wp-sitemap-taxonomies-category-1.xml" if core else "category-sitemap.xml"
    entries.append(f"<sitemap><loc>{root}/{category}</loc><lastmod>{iso(site.now)}</lastmod></sitemap>")
    return _xml(
        '<?xml version="1.0" encoding="UTF-8"?><?xml-stylesheet type="text/xsl" href="//example/main-sitemap.xsl"?>\n'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        + "\n".join(entries)
        + "\n</sitemapindex>"
    )


def sitemap(
    site: Site, base: str, install: Install, number: int, trap_url: str | None = None
) -> tuple[int, dict, bytes]:
    posts = _sitemap_posts(site, install)
    chunk = posts[(number - 1) * SITEMAP_SIZE : number * SITEMAP_SIZE]
    if not chunk:
        return NOT_FOUND
    urls = [f"<url><loc>{base}{p.path}</loc><lastmod>{iso(p.modified)}</lastmod></url>" for p in chunk]
    if trap_url and number == 1:
        urls.append(f"<url><loc>{html.escape(trap_url)}</loc><lastmod>{iso(site.now)}</lastmod></url>")
    return _xml(
        '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">\n' + "\n".join(urls) + "\n</urlset>"
    )


def category_sitemap(site: Site, base: str, install: Install) -> tuple[int, dict, bytes]:
    urls = "".join(f"<url><loc>{base}{c.archive}</loc></url>" for c in install.categories(site))
    return _xml(
        f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    )


def robots(base: str, disallow: list[str] | tuple = ()) -> tuple[int, dict, bytes]:
    extra = "".join(f"Disallow: {path}\n" for path in disallow)
    body = (
        "# This file was generated by WordPress\n"
        "User-agent: *\n"
        "# Disallow: /wp-admin/\n"
        "# Allow: /wp-admin/admin-ajax.php\n"
        "Disallow: /private/\n" + extra + f"\nSitemap: {base}/sitemap_index.xml\n"
    )
    return 200, {"Content-Type": "text/plain; charset=utf-8"}, body.encode()


def category_of(site: Site, path: str) -> tuple[str, str] | None:
    """``/category/news/brief/`` or ``/es/category/noticias/`` -> (lang, slug), by the last path segment."""
    parts = [p for p in path.split("/") if p]
    lang = site.spec.languages[0]
    if parts and parts[0] in site.spec.languages[1:]:
        lang, parts = parts[0], parts[1:]
    if len(parts) >= 2 and parts[0] == "category":
        cat = site.spec.by_slug.get(parts[-1])
        if cat is not None and cat.lang == lang:
            return lang, cat.slug
    return None


__all__ = [
    "BadRequest",
    "category_of",
    "error",
    "parse_wp_date",
    "post_json",
    "rest_posts",
    "rss",
    "sitemap",
    "sitemap_index",
]
