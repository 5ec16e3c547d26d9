"""Pure functions of the crawl stage: URL identity, Retry-After, surface parsers, crawl state."""

from __future__ import annotations

import json

import pytest

from spiders.discovery import SurfaceError, parse_sitemap, read_rest_page
from spiders.editions import scope_ids
from spiders.middlewares import retry_after_seconds
from spiders.sites import load_profile
from spiders.state import CrawlState, KnownPost
from spiders.urls import canonical_url, post_id_from_url, same_site

BASE = "https://insightcrime.org"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://www.insightcrime.org/news/brief/a-b", f"{BASE}/news/brief/a-b/"),
        (f"{BASE}/news/a/?utm_source=x&utm_medium=y#comments", f"{BASE}/news/a/"),
        (f"{BASE}/?p=123", f"{BASE}/?p=123"),
        ("HTTPS://InsightCrime.org/es/noticias/x/", f"{BASE}/es/noticias/x/"),
    ],
)
def test_canonical_url(raw, expected):
    assert canonical_url(raw, BASE) == expected


def test_same_site_refuses_other_hosts_and_ports():
    assert same_site(f"{BASE}/news/a/", BASE)
    assert same_site("http://insightcrime.org/news/a/", BASE)
    assert same_site("https://www.insightcrime.org/a/", BASE, ("www.insightcrime.org",))
    assert not same_site("https://evil.org/a/", BASE)
    assert not same_site("http://127.0.0.1:9999/trap/", "http://127.0.0.1:8765")
    assert not same_site("http://10.0.0.1/", BASE)
    assert not same_site("ftp://insightcrime.org/", BASE)
    assert not same_site("https://insightcrime.org.evil.org/", BASE)


def test_post_id_from_url():
    assert post_id_from_url(f"{BASE}/?p=351087") == 351087
    assert post_id_from_url(f"{BASE}/news/x/") is None


def test_retry_after_seconds():
    assert retry_after_seconds(b"120") == 120
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 30) == pytest.approx(30)
    assert retry_after_seconds(b"soon") is None
    assert retry_after_seconds(None) is None


def test_rest_parser_skips_bad_items_and_rejects_bad_pages():
    profile = load_profile("insightcrime", BASE)
    good = {"id": 1, "link": f"{BASE}/news/a/", "date_gmt": "2026-01-01T00:00:00", "lang": "en"}
    items = [
        good,
        {"id": "2", "link": f"{BASE}/news/b/"},
        {"id": 3},
        {"id": 4, "link": "https://evil.org/x/"},
        7,
    ]
    page = read_rest_page(json.dumps(items).encode(), profile, "en")
    assert [c.post_id for c in page.candidates] == [1] and page.invalid == 4
    assert [c.bad_ids for c in page.unidentified] == [{"rest id": '"2"'}]
    with pytest.raises(SurfaceError):
        read_rest_page(b"<html>oops</html>", profile, "en")
    with pytest.raises(SurfaceError):
        read_rest_page(b'{"code": "rest_forbidden"}', profile, "en")


def test_sitemap_parser_refuses_entities_and_garbage():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&lol2;</loc></url></urlset>'
    )
    _, entries = parse_sitemap(bomb)
    assert all("lollol" not in loc for loc, _ in entries), "entities are not expanded"
    with pytest.raises(SurfaceError):
        parse_sitemap(b"<html><body>not a sitemap</body></html>")


def test_state_round_trip_and_clear_error(tmp_path):
    state = CrawlState(high_water={"en": "2026-11-20T00:00:00+00:00"})
    state.posts[5] = KnownPost(5, "en", f"{BASE}/news/a/", aliases=[f"{BASE}/news/old/"], etag='"x"')
    path = tmp_path / "state.jsonl"
    state.save(path)
    again = CrawlState.load(path)
    assert again.posts[5].aliases == [f"{BASE}/news/old/"] and again.high_water == state.high_water
    assert again.by_url()[f"{BASE}/news/old/"].post_id == 5
    path.write_text('{"kind": "post", "nonsense": 1}\n')
    with pytest.raises(ValueError, match=r"state\.jsonl:1"):
        CrawlState.load(path)


def test_runner_reports_bad_arguments(tmp_path):
    from spiders.runner import CrawlFailed, CrawlJob, run_crawl

    with pytest.raises(CrawlFailed, match="mode"):
        run_crawl(CrawlJob(out=tmp_path, mode="sometimes", site="http://127.0.0.1:9"))


def test_rest_items_are_read_one_by_one_and_every_skip_is_counted():
    profile = load_profile("insightcrime", BASE)
    item = {"id": 1, "link": f"{BASE}/news/a/", "categories": [2], "date_gmt": "2026-01-01T00:00:00"}
    items = [
        item,
        {**item, "id": 2, "link": f"{BASE}/news/b/", "lang": "es"},
        {**item, "id": 3, "link": f"{BASE}/news/c/", "lang": "en_US"},
        {**item, "id": 4, "link": f"{BASE}/news/d/", "_embedded": {"author": 5, "wp:term": "x"}},
        {**item, "id": 5, "link": f"{BASE}/news/e/", "title": {"rendered": ["x"]}},
        {**item, "id": 6, "link": f"{BASE}/news/f/", "categories": [11]},
    ]
    page = read_rest_page(json.dumps(items).encode(), profile, "en", scope={2, 3})
    assert [c.post_id for c in page.candidates] == [1, 3, 4, 5], "a bad embed or title costs metadata only"
    assert page.items == 6
    assert page.skipped == {
        "another language": 1,
        "embedded unreadable (post kept)": 1,
        "outside the scope's categories": 1,
    }
    assert page.candidates[3].rest["title"] is None


def test_scope_ids_keep_every_term_of_a_slug_and_survive_bad_terms():
    terms = [
        {"id": 1, "slug": "news", "parent": 0},
        {"id": 9, "slug": "news", "parent": 0},  # a second install language's "news", lang ignored
        {"id": 2, "slug": "brief", "parent": 1},
        {"id": 3, "slug": "deep", "parent": 2},
        {"id": 4, "slug": "loop", "parent": 5},
        {"id": 5, "slug": "loop2", "parent": 4},
        {"id": 6, "slug": "odd", "parent": [1]},
        {"id": "7", "slug": "bad"},
        "junk",
    ]
    assert scope_ids(terms, ["news"]) == {"news": [1, 9], "brief": [2], "deep": [3]}
    assert scope_ids(terms, ["loop"]) == {"loop": [4], "loop2": [5]}, "a parent cycle ends"
    assert scope_ids(terms, ["nothing"]) == {}
