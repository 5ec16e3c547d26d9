"""The simulator itself: WordPress REST semantics, conditional GETs, the clock, determinism."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import timedelta

import pytest

from infra.simulator import GENERIC_NEWS, INSIGHT_CRIME, Simulator, Site, rest
from infra.simulator.clock import Clock, Journal, current_hour


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


# ---- WordPress faithfulness --------------------------------------------------------------------------------
def get_json(sim, path: str):
    status, headers, body = get(sim, path)
    return status, headers, json.loads(body)


def all_posts(sim, query: str, prefix: str = "") -> set[int]:
    """Every id a posts query lists, page by page."""
    ids, page = set(), 1
    while True:
        status, headers, body = get_json(
            sim, f"{prefix}/wp-json/wp/v2/posts?{query}&per_page=100&page={page}"
        )
        assert status == 200, body
        ids |= {p["id"] for p in body}
        if page >= int(headers["X-WP-TotalPages"]):
            return ids
        page += 1


def test_site_specs_and_subcategories(sim):
    site = sim.site
    assert site.spec is INSIGHT_CRIME and site.spec.theme == "newspack" and site.spec.name == "InSight Crime"
    assert site.descendants("news") == {"news", "brief", "analysis"}
    analysis = site.briefs_in("analysis", "en")
    assert analysis and all(site.posts[i].is_brief for i in analysis)
    share = len(analysis) / len([p for p in site.live("en") if p.published.year >= 2023])
    assert 0.02 < share < 0.12
    post = site.posts[min(analysis)]
    assert post.path == f"/news/analysis/{post.slug}/" and get(sim, post.path)[0] == 200
    assert not any(p.is_brief for p in site.live("en", briefs_only=False) if p.category == "investigations")
    assert Site(posts=50, seed=7).spec is INSIGHT_CRIME  # the old signature keeps working


def test_categories_filter_is_exact_unless_children_are_asked_for(sim):
    site = sim.site
    news, brief, analysis = (site.briefs_in(s, "en") for s in ("news", "brief", "analysis"))
    assert all_posts(sim, "categories=2,3") == news | brief
    assert all_posts(sim, "categories[]=4") == analysis
    everything = news | brief | analysis
    assert all_posts(sim, "categories[terms]=2&categories[include_children]=true") == everything
    assert all_posts(sim, "categories[terms][]=2&categories[include_children]=1") == everything
    assert all_posts(sim, "categories[terms]=2&categories[include_children]=false") == news
    _, _, body = get_json(sim, f"/wp-json/wp/v2/posts?include={min(analysis)}&_fields=id,categories")
    assert body == [{"id": min(analysis), "categories": [4]}], "only the category the editor ticked"
    assert get(sim, "/wp-json/wp/v2/posts?categories=news")[0] == 400


def test_categories_endpoint(sim):
    status, headers, body = get_json(sim, "/wp-json/wp/v2/categories?parent=2")
    assert status == 200 and {c["slug"] for c in body} == {"brief", "analysis"}
    assert headers["X-WP-Total"] == "2" and headers["X-WP-TotalPages"] == "1"
    term = next(c for c in body if c["slug"] == "analysis")
    assert set(term) == {"id", "count", "description", "link", "name", "slug", "taxonomy", "parent", "lang"}
    assert term["count"] == len(sim.site.briefs_in("analysis")) and term["link"].startswith(sim.base + "/")
    assert get(sim, term["link"].removeprefix(sim.base))[0] == 200
    _, _, body = get_json(sim, "/wp-json/wp/v2/categories?slug=news,noticias-del-dia")
    assert {c["id"] for c in body} == {2, 21}
    _, _, body = get_json(sim, "/wp-json/wp/v2/categories?include=3,4,20")
    assert {c["id"] for c in body} == {3, 4, 20}
    _, headers, body = get_json(sim, "/wp-json/wp/v2/categories?lang=es&per_page=2&page=2")
    assert headers["X-WP-Total"] == "3" and headers["X-WP-TotalPages"] == "2" and len(body) == 1


def test_tags_and_users(sim):
    post = next(p for p in sim.site.live("en") if len(p.tags) == 2 and p.fixed_body is None)
    _, _, (item,) = get_json(sim, f"/wp-json/wp/v2/posts?include={post.id}&_fields=id,tags,author")
    _, headers, tags = get_json(sim, f"/wp-json/wp/v2/tags?include={','.join(map(str, item['tags']))}")
    assert sorted(t["name"] for t in tags) == sorted(post.tags) and headers["X-WP-Total"] == "2"
    _, _, by_slug = get_json(sim, f"/wp-json/wp/v2/tags?slug={tags[0]['slug']}")
    assert [t["id"] for t in by_slug] == [tags[0]["id"]]
    all_tags = {t for p in sim.site.posts.values() for t in p.tags}
    assert len({rest.tag_id(t) for t in all_tags}) == len(all_tags), "one id per tag"
    authors = {a for p in sim.site.posts.values() for a in p.authors}
    assert len({rest.user_id(a) for a in authors}) == len(authors), "one id per author"
    status, _, user = get_json(sim, f"/wp-json/wp/v2/users/{item['author']}")
    assert status == 200 and user["name"] == post.authors[0]
    assert {"id", "name", "slug", "link", "description"} <= set(user)
    status, _, body = get_json(sim, "/wp-json/wp/v2/users")
    assert status == 401 and body["code"] == "rest_user_cannot_view"
    assert get(sim, "/wp-json/wp/v2/users/1")[0] == 404
    sim.users_refused = True
    assert get(sim, f"/wp-json/wp/v2/users/{item['author']}")[0] == 401


def test_embed_follows_fields(sim):
    post = next(p for p in sim.site.live("en") if p.category == "analysis")
    url = f"/wp-json/wp/v2/posts?include={post.id}"
    _, _, (item,) = get_json(sim, url + "&_embed")
    author, (cats, tags) = item["_embedded"]["author"], item["_embedded"]["wp:term"]
    assert author[0]["name"] == post.authors[0] and [c["slug"] for c in cats] == ["analysis"]
    assert sorted(t["name"] for t in tags) == sorted(post.tags) and "_links" in item
    _, _, (item,) = get_json(sim, url + "&_embed&_fields=id,link")
    assert set(item) == {"id", "link"}, "no _links or _embedded in _fields: nothing is embedded"
    _, _, (item,) = get_json(sim, url + "&_embed=author&_fields=id,_links")
    assert set(item) == {"id", "_links", "_embedded"} and set(item["_embedded"]) == {"author"}
    _, _, (item,) = get_json(sim, url + "&_embed=wp:term&_fields=id,_embedded")
    assert set(item["_embedded"]) == {"wp:term"}
    sim.users_refused = True
    _, _, (item,) = get_json(sim, url + "&_embed=author,wp:term")
    assert item["_embedded"]["author"][0]["data"]["status"] == 401
    assert item["_embedded"]["author"][0]["code"] == "rest_user_cannot_view"


def test_rest_switches(sim):
    victim = sim.site.live("en")[-1]
    sim.rest_total_pages = "1000000000"
    sim.rest_overrides = {victim.id: {"link": "http://127.0.0.1:99999/"}}
    _, headers, body = get_json(sim, "/wp-json/wp/v2/posts?lang=en&_fields=id,link")
    assert headers["X-WP-TotalPages"] == "1000000000"
    links = {p["id"]: p["link"] for p in body}
    assert links[victim.id] == "http://127.0.0.1:99999/"
    assert all(link.startswith(sim.base) for i, link in links.items() if i != victim.id)
    assert get(sim, "/wp-json/wp/v2/categories")[1]["X-WP-TotalPages"] == "1", "posts responses only"


def test_category_feeds_and_archives_include_children(sim):
    site = sim.site
    feed = get(sim, "/category/news/feed/")[2].decode()
    newest = [p for p in reversed(site.live("en")) if p.category in site.descendants("news")][:10]
    assert re.findall(r"<post-id[^>]*>(\d+)<", feed) == [str(p.id) for p in newest]
    assert "appeared first on <a" in feed and "<title>InSight Crime</title>" in feed
    analysis = [p for p in reversed(site.live("en")) if p.category == "analysis"]
    page = get(sim, "/category/news/analysis/")[2].decode()
    assert all(p.path in page for p in analysis[:10])
    assert f"postid-{analysis[0].id}" not in page
    assert re.findall(r'class="post-(\d+) ', page) == [str(p.id) for p in analysis[:10]]
    assert get(sim, "/es/sitemap_index.xml")[0] == 404, "one Yoast sitemap for all languages"
    assert get(sim, "/es/wp-json/wp/v2/posts")[0] == 404, "no second install"
    sitemap = get(sim, "/post-sitemap.xml")[2].decode()
    assert all(p.path in sitemap for p in site.live(briefs_only=False)), "every post of every category"


def test_vanilla_wordpress_has_a_separate_spanish_install():
    with Simulator(Site(posts=120), wordpress="vanilla") as sim:
        site = sim.site
        assert sim.wordpress == "vanilla" and sim.rest_url("es") == sim.base + "/es/wp-json"
        en = {p.id for p in site.live("en", briefs_only=False)}
        es = {p.id for p in site.live("es", briefs_only=False)}
        assert all_posts(sim, "lang=es") == en, "the root install ignores lang and holds English only"
        assert all_posts(sim, "x=1", prefix="/es") == es
        _, _, body = get_json(sim, "/wp-json/wp/v2/posts?_fields=id,lang,translations,link")
        assert set(body[0]) == {"id", "link"}
        _, _, cats = get_json(sim, "/es/wp-json/wp/v2/categories?per_page=100")
        assert {c["slug"] for c in cats} == {"noticias", "noticias-del-dia", "investigaciones"}
        assert "lang" not in cats[0]
        _, _, cats = get_json(sim, "/wp-json/wp/v2/categories?per_page=100&lang=es")
        assert "noticias" not in {c["slug"] for c in cats}
        index = get(sim, "/es/sitemap_index.xml")[2].decode()
        (first,) = re.findall(r"<loc>[^<]*/es/post-sitemap\.xml</loc>", index)
        urls = re.findall(r"<loc>([^<]+)</loc>", get(sim, "/es/post-sitemap.xml")[2].decode())
        assert first and urls and all(u.startswith(sim.base + "/es/") for u in urls)
        assert len(urls) == len(es)
        root = get(sim, "/post-sitemap.xml")[2].decode()
        assert "/es/" not in root
        feed = get(sim, "/es/category/noticias/noticias-del-dia/feed/")[2].decode()
        links = re.findall(r"<link>([^<]+)</link>", feed)[1:]
        assert links and all(u.startswith(sim.base + "/es/noticias/noticias-del-dia/") for u in links)
        links = re.findall(r"<link>([^<]+)</link>", get(sim, "/es/feed/")[2].decode())[1:]
        assert links and all(u.startswith(sim.base + "/es/") for u in links)
        links = re.findall(r"<link>([^<]+)</link>", get(sim, "/feed/")[2].decode())[1:]
        assert links and not any("/es/" in u for u in links)
        assert get(sim, "/es/category/noticias/")[0] == 200
        assert get(sim, "/category/noticias/")[0] == 404
        post = site.live("es")[-1]
        assert get(sim, post.path)[0] == 200
        assert get(sim, f"/es/?p={post.id}")[1]["Location"] == sim.base + post.path
        assert get(sim, f"/es/wp-json/wp/v2/users/{rest.user_id(post.authors[0])}")[0] == 200
        status, _, index = get_json(sim, "/es/wp-json/")
        assert status == 200 and index["url"] == sim.base + "/es" and "wp/v2" in index["namespaces"]


def test_generic_spec():
    with Simulator(Site(posts=150, spec=GENERIC_NEWS), wordpress="vanilla") as sim:
        site = sim.site
        assert site.spec.theme == "tagdiv" and site.seed_post is None
        _, _, cats = get_json(sim, "/wp-json/wp/v2/categories")
        assert {(c["slug"], c["parent"]) for c in cats} == {("local", 0), ("courts", 40), ("opinion", 0)}
        courts = site.briefs_in("courts")
        assert 0.05 < len(courts) / len(site.live()) < 0.3
        assert {p.lang for p in site.posts.values()} == {"en"}
        assert {p.id for p in site.live()} == site.briefs_in("local") | courts
        assert all_posts(sim, "categories=41") == courts
        feed = get(sim, "/category/local/feed/")[2].decode()
        assert "<title>Harbour Gazette</title>" in feed and "appeared first on" in feed
        assert "Harbour Gazette</a>." in feed
        post = site.posts[min(courts)]
        assert post.path == f"/local/courts/{post.slug}/" and get(sim, post.path)[0] == 200
        assert get(sim, "/category/local/courts/")[0] == 200
        assert get(sim, "/es/wp-json/wp/v2/posts")[0] == 404


# ---- the clock against real time: journal, replay, follower -------------------------------------------------
def _state(site: Site) -> dict:
    """What a crawler can observe of a site: every post's path, revision, dates and removal, and the clock."""
    posts = {p.id: (p.path, p.revision, p.published, p.modified, p.gone) for p in site.posts.values()}
    return {"now": site.now, "posts": posts}


def test_a_journaled_clock_replays_the_same_site(tmp_path):
    path, identity = tmp_path / "clock.json", {"posts": 120, "seed": 7, "site": "insightcrime"}
    now = current_hour()
    journal = Journal.open(path, now, history_days=2, site=identity)
    assert journal.start == now - timedelta(days=2) and journal.present == now
    clock = Clock(journal.build(posts=120), journal)
    assert not clock.state()["replayed"] and clock.catch_up() == 0, "the history waits for its replay"
    for _ in range(2):
        clock.advance(hours=24, new=3, edited=2, renamed=1, removed=1)
    assert clock.state()["replayed"] and clock.site.now == now
    again = Journal.open(path, now + timedelta(days=5), history_days=9, site=identity)
    assert (again.start, again.present) == (journal.start, journal.present), "a restart keeps the journal's"
    assert _state(again.build(posts=120)) == _state(clock.site)
    with pytest.raises(ValueError, match="another site"):
        Journal.open(path, now, 2, {**identity, "posts": 121})


def test_the_clock_follows_real_time_with_a_days_news_every_24_hours():
    hour = current_hour()
    present = hour - timedelta(hours=30)
    site = Site(posts=120, now=present)
    clock = Clock(site, Journal(present, present, {}))
    assert clock.catch_up(until=hour + timedelta(minutes=59)) == 30 and site.now == hour
    news = [c for c in site.changes if c.new]
    assert len(news) == 1 and news[0].at == present + timedelta(hours=24)
    assert len(news[0].edited) == 2 and len(news[0].renamed) == 1 and len(news[0].removed) == 1
    hours = [(a["hours"], a["new"]) for a in clock.journal.advances]
    assert hours == [(23, 0), (1, 5), (6, 0)], "quiet hours merge into one journal entry"
    assert clock.catch_up(until=hour) == 0


def test_clock_over_http_is_journaled(sim):
    status, _, body = get(sim, "/__sim__/clock")
    state = json.loads(body)
    assert status == 200 and state["replayed"] and state["advances"] == 0
    request = urllib.request.Request(sim.base + "/__sim__/advance?hours=24&new=2&edited=1", method="POST")
    with urllib.request.urlopen(request, timeout=10) as reply:
        change = json.loads(reply.read())
    assert len(change["new"]) == 2 and len(change["edited"]) == 1
    assert sim.clock.journal.advances[-1] == {
        "hours": 24.0,
        "new": 2,
        "edited": 1,
        "renamed": 1,
        "removed": 0,
        "lang": "en",
    }
    assert json.loads(get(sim, "/__sim__/clock")[2])["advances"] == 1
