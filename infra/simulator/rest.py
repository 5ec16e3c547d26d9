"""The simulated WordPress REST API (``/wp-json/wp/v2/``): posts, categories, tags, users, ``_embed``.

Semantics follow WordPress core: exclusive ``after``/``before``, ``per_page`` ≤ 100, HTTP 400 past the last page of
posts, ``X-WP-Total``/``X-WP-TotalPages``, ``categories=`` matching only the categories a post was given (children
only with ``categories[include_children]=true``), unknown query parameters ignored. A multilingual install (Polylang)
adds a ``lang`` parameter and ``lang``/``translations`` fields; a vanilla install has neither.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from urllib.parse import parse_qs

from . import content
from .site import Category, Post, Site
from .wordpress import (
    CANNOT_VIEW,
    JSON,
    MULTILINGUAL,
    NO_ROUTE,
    TRUE,
    BadRequest,
    Install,
    error,
    error_json,
    installs,
    local_time,
    param_fields,
    param_ids,
    param_int,
    param_list,
    parse_wp_date,
    pick_fields,
    tag_id,
    user_id,
)

__all__ = ["BadRequest", "Install", "error", "installs", "parse_wp_date", "post_json", "rest_posts", "route"]


def post_json(post: Post, base: str, site: Site, install: Install = MULTILINGUAL) -> dict:
    """A post as ``/wp/v2/posts`` shows it; ``categories`` holds what the editor ticked, not its parents."""
    data = {
        "id": post.id,
        "date": local_time(post.published),
        "date_gmt": post.published.replace(tzinfo=None).isoformat(timespec="seconds"),
        "guid": {"rendered": f"{install.url(base)}/?p={post.id}"},
        "modified": local_time(post.modified),
        "modified_gmt": post.modified.replace(tzinfo=None).isoformat(timespec="seconds"),
        "slug": post.slug,
        "status": "publish",
        "type": "post",
        "link": base + post.path,
        "title": {"rendered": html.escape(post.title, quote=False)},
        "content": {"rendered": post.body_html(), "protected": False},
        "excerpt": {"rendered": f"<p>{html.escape(post.title, quote=False)}</p>\n", "protected": False},
        "author": user_id(post.authors[0]),
        "categories": [site.category(post.category).id],
        "tags": [tag_id(t) for t in post.tags],
    }
    if install.multilingual:
        translations = {post.lang: post.id}
        other = site.posts.get(post.translation or -1)
        if other is not None and other.gone is None:
            translations[other.lang] = other.id
        data.update(lang=post.lang, translations=translations)
    return data


def _links(post: Post, api: str) -> dict:
    return {
        "self": [{"href": f"{api}/wp/v2/posts/{post.id}"}],
        "collection": [{"href": f"{api}/wp/v2/posts"}],
        "author": [{"embeddable": True, "href": f"{api}/wp/v2/users/{user_id(post.authors[0])}"}],
        "wp:term": [
            {"taxonomy": "category", "embeddable": True, "href": f"{api}/wp/v2/categories?post={post.id}"},
            {"taxonomy": "post_tag", "embeddable": True, "href": f"{api}/wp/v2/tags?post={post.id}"},
        ],
    }


# ---- terms and users --------------------------------------------------------------------------------------
def category_json(cat: Category, base: str, install: Install, count: int) -> dict:
    data = {
        "id": cat.id,
        "count": count,
        "description": "",
        "link": base + cat.archive,
        "name": cat.name,
        "slug": cat.slug,
        "taxonomy": "category",
        "parent": cat.parent,
    }
    if install.multilingual:
        data["lang"] = cat.lang
    return data


def tag_json(name: str, base: str, install: Install, count: int) -> dict:
    slug = content.slugify(name)
    link = f"{install.url(base)}/tag/{slug}/"
    return {
        "id": tag_id(name),
        "count": count,
        "description": "",
        "link": link,
        "name": name,
        "slug": slug,
        "taxonomy": "post_tag",
    }


def user_json(name: str, base: str, install: Install) -> dict:
    slug = content.slugify(name)
    return {
        "id": user_id(name),
        "name": name,
        "url": "",
        "description": "",
        "link": f"{install.url(base)}/author/{slug}/",
        "slug": slug,
    }


def _all_terms(kind: str, site: Site, install: Install, base: str) -> list[tuple[dict, set[int]]]:
    """Every term of the install with the ids of the published posts it holds."""
    posts = install.posts(site)
    if kind == "categories":
        return [
            (category_json(c, base, install, len(ids)), ids)
            for c in install.categories(site)
            for ids in [{p.id for p in posts if p.category == c.slug}]
        ]
    holders: dict[str, set[int]] = {}
    for p in posts:
        for t in p.tags:
            holders.setdefault(t, set()).add(p.id)
    return [(tag_json(name, base, install, len(ids)), ids) for name, ids in holders.items()]


def rest_terms(kind: str, site: Site, install: Install, query: str, base: str) -> tuple[int, dict, bytes]:
    """``/wp/v2/categories`` and ``/wp/v2/tags``: ``slug``, ``include``, ``parent``, ``post``, paging, ``lang``."""
    params = parse_qs(query, keep_blank_values=True)
    try:
        per_page = param_int(params, "per_page", 10, 1, 100)
        page = param_int(params, "page", 1, 1, 10**6)
        terms = _all_terms(kind, site, install, base)
        if slugs := set(param_list(params, "slug")):
            terms = [t for t in terms if t[0]["slug"] in slugs]
        if include := param_ids(params, "include"):
            terms = [t for t in terms if t[0]["id"] in include]
        if kind == "categories" and "parent" in params:
            parent = param_int(params, "parent", 0, 0, 10**9)
            terms = [t for t in terms if t[0]["parent"] == parent]
        if "post" in params:
            post = param_int(params, "post", 0, 0, 10**9)
            terms = [t for t in terms if post in t[1]]
        if params.get("hide_empty", [""])[0] in TRUE:
            terms = [t for t in terms if t[0]["count"]]
        if install.multilingual and kind == "categories" and params.get("lang", [""])[0]:
            terms = [t for t in terms if t[0]["lang"] == params["lang"][0]]
        orderby = params.get("orderby", ["name"])[0]
        if orderby not in ("name", "id", "slug", "count", "include"):
            raise BadRequest("rest_invalid_param", "Invalid parameter(s): orderby")
        key = "id" if orderby == "include" else orderby
        terms.sort(key=lambda t: (t[0][key], t[0]["id"]), reverse=params.get("order", ["asc"])[0] == "desc")
    except BadRequest as exc:
        return 400, {"Content-Type": JSON}, exc.body.encode()
    total = len(terms)
    chunk = [pick_fields(t[0], param_fields(params)) for t in terms[(page - 1) * per_page : page * per_page]]
    headers = {
        "Content-Type": JSON,
        "X-WP-Total": str(total),
        "X-WP-TotalPages": str(math.ceil(total / per_page)),
    }
    return 200, headers, json.dumps(chunk, ensure_ascii=False).encode()


def rest_user(site: Site, install: Install, number: str, base: str, refused: bool) -> tuple[int, dict, bytes]:
    """``/wp/v2/users/<id>``: the author, or 401 on a hardened site (``refused``)."""
    if refused:
        return error(*CANNOT_VIEW)
    names = {user_id(a): a for p in install.posts(site) for a in p.authors}
    if not number.isdigit() or int(number) not in names:
        return error("rest_user_invalid_id", "Invalid user ID.", 404)
    body = json.dumps(user_json(names[int(number)], base, install), ensure_ascii=False)
    return 200, {"Content-Type": JSON}, body.encode()


# ---- posts ------------------------------------------------------------------------------------------------
@dataclass
class Switches:
    """Test switches of the REST API (set on the Simulator)."""

    users_refused: bool = False
    total_pages: str | None = None
    overrides: dict[int, dict] | None = None


def _category_filter(site: Site, params: dict) -> set[str] | None:
    """Slugs a ``categories`` filter admits: exact ids, or with ``[include_children]`` their descendants too."""
    wanted = param_ids(params, "categories") | param_ids(params, "categories[terms]")
    if not wanted:
        return None
    slugs = {c.slug for c in site.categories if c.id in wanted}
    if params.get("categories[include_children]", [""])[0].lower() in TRUE:
        slugs = set().union(*(site.descendants(s) for s in slugs)) if slugs else set()
    return slugs


def _embed_rels(params: dict) -> set[str] | None:
    if "_embed" not in params:
        return None
    rels = set(param_list(params, "_embed")) - {"1", "true"}
    return rels or {"author", "wp:term"}


def _term_index(site: Site, install: Install, base: str) -> dict[int, dict]:
    return {t["id"]: t for kind in ("categories", "tags") for t, _ in _all_terms(kind, site, install, base)}


def _item(
    post: Post, site: Site, install: Install, base: str, params: dict, sw: Switches, terms: dict[int, dict]
) -> dict:
    data = post_json(post, base, site, install)
    data.update((sw.overrides or {}).get(post.id, {}))
    fields = param_fields(params)
    data = pick_fields(data, fields)
    linked = fields is None or bool(fields & {"_links", "_embedded"})
    if not linked:
        return data
    api = install.url(base) + "/wp-json"
    if fields is None or "_links" in fields:
        data["_links"] = _links(post, api)
    rels = _embed_rels(params)
    if rels:
        embedded: dict = {}
        if "author" in rels:
            author = (
                error_json(*CANNOT_VIEW) if sw.users_refused else user_json(post.authors[0], base, install)
            )
            embedded["author"] = [author]
        if "wp:term" in rels:
            if not terms:
                terms.update(_term_index(site, install, base))
            own = [[site.category(post.category).id], [tag_id(t) for t in post.tags]]
            embedded["wp:term"] = [[terms[i] for i in ids if i in terms] for ids in own]
        data["_embedded"] = embedded
    return data


def rest_posts(
    site: Site, install: Install, query: str, base: str, sw: Switches | None = None, single: str | None = None
) -> tuple[int, dict, bytes]:
    """``/wp/v2/posts`` (or ``/wp/v2/posts/<single>``)."""
    sw = sw or Switches()
    params = parse_qs(query, keep_blank_values=True)
    posts = install.posts(site)
    if single is not None:
        post = next((p for p in posts if str(p.id) == single), None)
        if post is None:
            return error("rest_post_invalid_id", "Invalid post ID.", 404)
        body = _item(post, site, install, base, params, sw, {})
        return 200, {"Content-Type": JSON}, json.dumps(body, ensure_ascii=False).encode()
    try:
        per_page = param_int(params, "per_page", 10, 1, 100)
        page = param_int(params, "page", 1, 1, 10**6)
        if install.multilingual and params.get("lang", [""])[0]:
            posts = [p for p in posts if p.lang == params["lang"][0]]
        if (slugs := _category_filter(site, params)) is not None:
            posts = [p for p in posts if p.category in slugs]
        if tags := param_ids(params, "tags"):
            posts = [p for p in posts if tags & {tag_id(t) for t in p.tags}]
        if include := param_ids(params, "include"):
            posts = [p for p in posts if p.id in include]
        if wanted := set(param_list(params, "slug")):
            posts = [p for p in posts if p.slug in wanted]
        for name, attr, cmp in (
            ("after", "published", 1),
            ("before", "published", -1),
            ("modified_after", "modified", 1),
            ("modified_before", "modified", -1),
        ):
            if name in params:
                bound = parse_wp_date(params[name][0])
                posts = [p for p in posts if (getattr(p, attr) - bound).total_seconds() * cmp > 0]
        keys = {
            "date": lambda p: (p.published, p.id),
            "modified": lambda p: (p.modified, p.id),
            "id": lambda p: p.id,
            "title": lambda p: p.title,
            "slug": lambda p: p.slug,
        }
        orderby = params.get("orderby", ["date"])[0]
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
        return error(
            "rest_post_invalid_page_number",
            "The page number requested is larger than the number of pages available.",
        )
    chunk = posts[(page - 1) * per_page : page * per_page]
    terms: dict[int, dict] = {}  # filled on the first embed
    body = [_item(p, site, install, base, params, sw, terms) for p in chunk]
    headers = {"Content-Type": JSON, "X-WP-Total": str(total), "X-WP-TotalPages": str(pages if total else 0)}
    if sw.total_pages is not None:
        headers["X-WP-TotalPages"] = sw.total_pages
    return 200, headers, json.dumps(body, ensure_ascii=False).encode()


def index_json(site: Site, install: Install, base: str) -> dict:
    """``/wp-json/``: the install's name and namespaces (the route table is left out)."""
    url = install.url(base)
    return {
        "name": site.spec.name,
        "description": site.spec.tagline,
        "url": url,
        "home": url,
        "gmt_offset": -5,
        "timezone_string": "America/Bogota",
        "namespaces": ["oembed/1.0", "wp/v2"],
        "routes": {},
    }


def route(
    site: Site, install: Install, path: str, query: str, base: str, sw: Switches
) -> tuple[int, dict, bytes]:
    """Answer ``path`` (relative to the install's ``/wp-json``)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return 200, {"Content-Type": JSON}, json.dumps(index_json(site, install, base)).encode()
    if parts[:2] != ["wp", "v2"] or len(parts) not in (3, 4):
        return error(*NO_ROUTE)
    kind, number = parts[2], (parts[3] if len(parts) == 4 else None)
    if kind == "posts":
        return rest_posts(site, install, query, base, sw, single=number)
    if kind in ("categories", "tags") and number is None:
        return rest_terms(kind, site, install, query, base)
    if kind == "users":
        if number is None:
            return error(*CANNOT_VIEW)
        return rest_user(site, install, number, base, sw.users_refused)
    return error(*NO_ROUTE)
