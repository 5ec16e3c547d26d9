"""The simulator itself: WordPress REST semantics, conditional GETs, the clock, determinism."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta

import pytest

from infra.simulator import Site


def get(sim, path: str, headers: dict | None = None):
    request = urllib.request.Request(sim.base + path, headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_rest_paging_headers_and_limits(sim):
    status, headers, body = get(sim, "/wp-json/wp/v2/posts?per_page=100&lang=en&_fields=id,link")
    total = len([p for p in sim.site.ordered if p.gone is None and p.lang == "en"])
    assert status == 200 and int(headers["X-WP-Total"]) == total
    pages = int(headers["X-WP-TotalPages"])
    assert pages == -(-total // 100)
    assert set(json.loads(body)[0]) == {"id", "link"}
    assert get(sim, f"/wp-json/wp/v2/posts?per_page=100&lang=en&page={pages + 1}")[0] == 400
    assert get(sim, "/wp-json/wp/v2/posts?per_page=101")[0] == 400
    assert get(sim, "/wp-json/wp/v2/posts?orderby=nonsense")[0] == 400


def test_rest_dates_follow_wordpress(sim):
    post = sim.site.live("en")[-10]
    stamp = post.published.strftime("%Y-%m-%dT%H:%M:%S")
    _, _, body = get(sim, f"/wp-json/wp/v2/posts?after={stamp}Z&per_page=100&lang=en&_fields=id")
    assert post.id not in {p["id"] for p in json.loads(body)}, "after is exclusive"
    local = (post.published - timedelta(hours=5, seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    _, _, body = get(sim, f"/wp-json/wp/v2/posts?after={local}&per_page=100&lang=en&_fields=id")
    assert post.id in {p["id"] for p in json.loads(body)}, "a naive date is site-local (UTC-5)"


def test_conditional_get_and_clock(sim):
    post = sim.site.live("en")[-1]
    status, headers, _ = get(sim, post.path)
    assert status == 200
    assert get(sim, post.path, {"If-None-Match": headers["ETag"]})[0] == 304
    assert get(sim, post.path, {"If-Modified-Since": headers["Last-Modified"]})[0] == 304
    change = sim.site.advance(hours=24, new=3, edited=1, renamed=1, removed=1)
    assert len(change.new) == 3 and len(change.edited) == 1
    edited = sim.site.posts[change.edited[0]]
    assert "Update 1:" in get(sim, edited.path)[2].decode()
    ((renamed_id, old_path),) = change.renamed.items()
    status, headers, _ = get(sim, old_path)
    assert status == 301 and headers["Location"].endswith(sim.site.posts[renamed_id].path)
    removed = sim.site.posts[change.removed[0]]
    assert get(sim, removed.path)[0] in (404, 410)
    assert get(sim, f"/?p={renamed_id}")[0] == 301


def test_site_is_deterministic():
    one, two = Site(posts=200, seed=3), Site(posts=200, seed=3)
    assert [(p.id, p.slug, p.published) for p in one.ordered] == [
        (p.id, p.slug, p.published) for p in two.ordered
    ]
    assert one.advance(new=2) == two.advance(new=2)
    assert Site(posts=200, seed=4).ordered[-1].slug != one.ordered[-1].slug


@pytest.mark.parametrize(
    "path",
    [
        "/feed/",
        "/sitemap_index.xml",
        "/post-sitemap.xml",
        "/category/news/page/2/",
        "/robots.txt",
        "/wp-json/wp/v2/categories?slug=news",
    ],
)
def test_surfaces_answer(sim, path):
    status, _, body = get(sim, path)
    assert status == 200 and body


def test_article_page_carries_standard_markup(sim):
    post = next(p for p in sim.site.live("en") if p.translation)
    html = get(sim, post.path)[2].decode()
    for marker in (
        'rel="canonical"',
        'hreflang="es"',
        '"@type": "NewsArticle"',
        'property="og:title"',
        f'?p={post.id}"',
        "Was this content helpful?",
        "Related Content",
        "About InSight Crime",
    ):
        assert marker in html, marker
