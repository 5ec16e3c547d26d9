"""Machine-readable surfaces of the simulated site: WordPress REST API, RSS 2.0 feeds, Yoast sitemaps, robots.txt.

Each function returns ``(status, headers, body)``; semantics follow WordPress core (exclusive ``after`` and
``before``, ``per_page`` ≤ 100, HTTP 400 past the last page, ``X-WP-Total``/``X-WP-TotalPages``) and Yoast.
"""

from __future__ import annotations

import html
import json
import math
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qs

from .pages import iso
from .site import CATEGORIES, CATEGORY_BY_ID, CATEGORY_BY_SLUG, SITE_TZ, Post, Site

JSON = "application/json; charset=UTF-8"
SITEMAP_SIZE = 1000
FEED_SIZE = 10
_POST_FIELDS = (
    "id",
    "date",
    "date_gmt",
    "guid",
    "modified",
    "modified_gmt",
    "slug",
    "status",
    "type",
    "link",
    "title",
    "content",
    "excerpt",
    "author",
    "categories",
    "tags",
    "lang",
    "translations",
)


class BadRequest(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.body = json.dumps({"code": code, "message": message, "data": {"status": 400}})


def _error(code: str, message: str, status: int = 400) -> tuple[int, dict, bytes]:
    return (
        status,
        {"Content-Type": JSON},
        json.dumps({"code": code, "message": message, "data": {"status": status}}).encode(),
    )


def parse_wp_date(value: str) -> datetime:
    """WordPress reads a date without offset in the site's timezone."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            "rest_invalid_param", f"Invalid parameter(s): {value!r} is not a valid date."
        ) from None
    if parsed.tzinfo is None:
        parsed = (parsed - SITE_TZ).replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _local(dt: datetime) -> str:
    return (dt + SITE_TZ).replace(tzinfo=None).isoformat(timespec="seconds")


def post_json(post: Post, base: str, site: Site) -> dict:
    category = CATEGORY_BY_SLUG[post.category]
    translations = {post.lang: post.id}
    other = site.posts.get(post.translation or -1)
    if other is not None and other.gone is None:
        translations[other.lang] = other.id
    return {
        "id": post.id,
        "date": _local(post.published),
        "date_gmt": post.published.replace(tzinfo=None).isoformat(timespec="seconds"),
        "guid": {"rendered": f"{base}/?p={post.id}"},
        "modified": _local(post.modified),
        "modified_gmt": post.modified.replace(tzinfo=None).isoformat(timespec="seconds"),
        "slug": post.slug,
        "status": "publish",
        "type": "post",
        "link": base + post.path,
        "title": {"rendered": html.escape(post.title, quote=False)},
        "content": {"rendered": post.body_html(), "protected": False},
        "excerpt": {"rendered": f"<p>{html.escape(post.title, quote=False)}</p>\n", "protected": False},
        "author": 1 + sum(map(ord, post.authors[0])) % 50,
        "categories": [category.id] + ([category.parent] if category.parent else []),
        "tags": [1000 + sum(map(ord, t)) % 5000 for t in post.tags],
        "lang": post.lang,
        "translations": translations,
    }


def _int(params: dict, name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name, [str(default)])[0]
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise BadRequest("rest_invalid_param", f"Invalid parameter(s): {name} must be between {lo} and {hi}.")
    return int(raw)


def rest_posts(site: Site, query: str, base: str) -> tuple[int, dict, bytes]:
    params = parse_qs(query)
    try:
        per_page = _int(params, "per_page", 10, 1, 100)
        page = _int(params, "page", 1, 1, 10**6)
        posts = [p for p in site.ordered if p.gone is None]
        if "lang" in params:
            posts = [p for p in posts if p.lang == params["lang"][0]]
        if "categories" in params:
            wanted = {int(c) for c in params["categories"][0].split(",") if c.strip().isdigit()}
            posts = [p for p in posts if CATEGORY_BY_SLUG[p.category].id in wanted]
        for name, attr, cmp in (
            ("after", "published", 1),
            ("before", "published", -1),
            ("modified_after", "modified", 1),
            ("modified_before", "modified", -1),
        ):
            if name in params:
                bound = parse_wp_date(params[name][0])
                posts = [p for p in posts if (getattr(p, attr) - bound).total_seconds() * cmp > 0]
        orderby = params.get("orderby", ["date"])[0]
        keys = {
            "date": lambda p: (p.published, p.id),
            "modified": lambda p: (p.modified, p.id),
            "id": lambda p: p.id,
            "title": lambda p: p.title,
        }
        if orderby not in keys:
            raise BadRequest("rest_invalid_param", "Invalid parameter(s): orderby")
        order = params.get("order", ["desc"])[0]
        if order not in ("asc", "desc"):
            raise BadRequest("rest_invalid_param", "Invalid parameter(s): order")
        posts.sort(key=keys[orderby], reverse=order == "desc")
    except BadRequest as exc:
        return 400, {"Content-Type": JSON}, exc.body.encode()
    total, pages = len(posts), max(1, math.ceil(len(posts) / per_page))
    if page > pages and total:
        return _error(
            "rest_post_invalid_page_number",
            "The page number requested is larger than the number of pages available.",
        )
    fields = [f for f in params.get("_fields", [",".join(_POST_FIELDS)])[0].split(",") if f]
    chunk = posts[(page - 1) * per_page : page * per_page]
    body = [{k: v for k, v in post_json(p, base, site).items() if k in fields} for p in chunk]
    headers = {"Content-Type": JSON, "X-WP-Total": str(total), "X-WP-TotalPages": str(pages if total else 0)}
    return 200, headers, json.dumps(body, ensure_ascii=False).encode()


def rest_terms(kind: str, query: str) -> tuple[int, dict, bytes]:
    params = parse_qs(query)
    if kind == "categories":
        terms = [
            {
                "id": c.id,
                "name": c.name,
                "slug": c.slug,
                "parent": c.parent,
                "lang": c.lang,
                "link": f"/{c.path}/",
            }
            for c in CATEGORIES
        ]
    else:
        terms = []
    if "slug" in params:
        slugs = set(params["slug"][0].split(","))
        terms = [t for t in terms if t["slug"] in slugs]
    if "lang" in params:
        terms = [t for t in terms if t["lang"] == params["lang"][0]]
    return (
        200,
        {"Content-Type": JSON, "X-WP-Total": str(len(terms)), "X-WP-TotalPages": "1"},
        json.dumps(terms).encode(),
    )


def rss(site: Site, base: str, lang: str, category: str | None, query: str) -> tuple[int, dict, bytes]:
    """WordPress feeds: ten newest items, older ones through ``?paged=N`` (404 past the end)."""
    params = parse_qs(query)
    page = int(params["paged"][0]) if params.get("paged", [""])[0].isdigit() else 1
    posts = [p for p in reversed(site.ordered) if p.gone is None and p.lang == lang]
    if category:
        cat = CATEGORY_BY_SLUG[category]
        posts = [p for p in posts if p.category == cat.slug or CATEGORY_BY_SLUG[p.category].parent == cat.id]
    chunk = posts[(page - 1) * FEED_SIZE : page * FEED_SIZE]
    if not chunk and page > 1:
        return 404, {"Content-Type": "text/html; charset=UTF-8"}, b"<html><body>Page not found</body></html>"
    items = []
    for p in chunk:
        url = base + p.path
        cats = [CATEGORY_BY_SLUG[p.category].name, *p.tags]
        title = html.escape(p.title, quote=False)
        appeared = f'<p>The post <a href="{url}">{title}</a> appeared first on <a href="{base}">InSight Crime</a>.</p>'
        items.append(
            f"<item>\n<title>{title}</title>\n<link>{url}</link>\n"
            f"<dc:creator><![CDATA[{' and '.join(p.authors)}]]></dc:creator>\n"
            f"<pubDate>{format_datetime(p.published, usegmt=False).replace('-0000', '+0000')}</pubDate>\n"
            + "".join(f"<category><![CDATA[{c}]]></category>\n" for c in cats)
            + f'<guid isPermaLink="false">{base}/?p={p.id}</guid>\n'
            f"<description><![CDATA[<p>{title}</p>\n{appeared}]]></description>\n"
            f"<content:encoded><![CDATA[{p.body_html()}\n{appeared}]]></content:encoded>\n"
            f'<post-id xmlns="com-wordpress:feed-additions:1">{p.id}</post-id>\n</item>'
        )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n<title>InSight Crime</title>\n'
        f"<link>{base}/</link>\n<description>INVESTIGATION AND ANALYSIS OF ORGANIZED CRIME</description>\n"
        f"<language>{'es' if lang == 'es' else 'en-US'}</language>\n"
        + "\n".join(items)
        + "\n</channel>\n</rss>\n"
    )
    return 200, {"Content-Type": "application/rss+xml; charset=UTF-8"}, body.encode()


def _sitemap_posts(site: Site) -> list[Post]:
    """Yoast lists published posts (every language) by modification time, oldest first."""
    return sorted((p for p in site.posts.values() if p.gone is None), key=lambda p: (p.modified, p.id))


def sitemap_index(site: Site, base: str) -> tuple[int, dict, bytes]:
    posts = _sitemap_posts(site)
    entries = []
    for n in range(max(1, math.ceil(len(posts) / SITEMAP_SIZE))):
        chunk = posts[n * SITEMAP_SIZE : (n + 1) * SITEMAP_SIZE]
        name = "post-sitemap.xml" if n == 0 else f"post-sitemap{n + 1}.xml"
        lastmod = iso(max(p.modified for p in chunk)) if chunk else iso(site.now)
        entries.append(f"<sitemap><loc>{base}/{name}</loc><lastmod>{lastmod}</lastmod></sitemap>")
    entries.append(
        f"<sitemap><loc>{base}/category-sitemap.xml</loc><lastmod>{iso(site.now)}</lastmod></sitemap>"
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><?xml-stylesheet type="text/xsl" href="//example/main-sitemap.xsl"?>\n'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        + "\n".join(entries)
        + "\n</sitemapindex>"
    )
    return 200, {"Content-Type": "text/xml; charset=UTF-8"}, body.encode()


def sitemap(site: Site, base: str, number: int, trap_url: str | None = None) -> tuple[int, dict, bytes]:
    posts = _sitemap_posts(site)
    chunk = posts[(number - 1) * SITEMAP_SIZE : number * SITEMAP_SIZE]
    if not chunk:
        return 404, {"Content-Type": "text/html; charset=UTF-8"}, b"<html><body>Page not found</body></html>"
    urls = [f"<url><loc>{base}{p.path}</loc><lastmod>{iso(p.modified)}</lastmod></url>" for p in chunk]
    if trap_url and number == 1:
        urls.append(f"<url><loc>{html.escape(trap_url)}</loc><lastmod>{iso(site.now)}</lastmod></url>")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">\n' + "\n".join(urls) + "\n</urlset>"
    )
    return 200, {"Content-Type": "text/xml; charset=UTF-8"}, body.encode()


def category_sitemap(base: str) -> tuple[int, dict, bytes]:
    urls = "".join(f"<url><loc>{base}/{c.path}/</loc></url>" for c in CATEGORIES)
    body = f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    return 200, {"Content-Type": "text/xml; charset=UTF-8"}, body.encode()


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


def category_of(path: str) -> tuple[str, str] | None:
    """``/category/news/brief/`` or ``/es/category/noticias/`` -> (lang, slug)."""
    parts = [p for p in path.split("/") if p]
    lang = "es" if parts and parts[0] == "es" else "en"
    if lang == "es":
        parts = parts[1:]
    if len(parts) >= 2 and parts[0] == "category" and parts[-1] in CATEGORY_BY_SLUG:
        return lang, parts[-1]
    return None


__all__ = ["CATEGORY_BY_ID", "category_of", "rest_posts", "rss", "sitemap", "sitemap_index"]
