"""Each discovery surface alone, and their union, finds exactly the simulator's ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

AFTER = datetime(2026, 11, 1, tzinfo=UTC)
BEFORE = datetime(2026, 11, 8, tzinfo=UTC)
WINDOW = {"mode": "window", "after": AFTER.isoformat(), "before": BEFORE.isoformat()}


@pytest.mark.parametrize("surface", ["rest", "rss", "sitemap", "listing"])
def test_each_surface_alone_finds_the_window(sim, crawl, surface):
    truth = sim.site.published_between(AFTER, BEFORE)
    assert len(truth) >= 10, "the window should hold a meaningful number of briefs"
    result = crawl(sim, surfaces=surface, **WINDOW)
    assert result.ids("fetched") == truth
    assert len(result.records) == len(truth), "one record per brief, no duplicates"
    assert result.stats["discovered"].get(surface, 0) >= len(truth)
    assert set(result.stats["discovered"]) == {surface}


def test_union_of_fallbacks_dedupes_to_the_window(sim, crawl):
    truth = sim.site.published_between(AFTER, BEFORE)
    result = crawl(sim, surfaces="rss,sitemap,listing", **WINDOW)
    assert result.ids("fetched") == truth
    assert len(result.records) == len(truth)
    assert result.stats["fetch"] == {"fetched": len(truth)}, "each brief fetched once despite three surfaces"
    by_id = result.by_id()
    assert all(len(by_id[i]["discovered_via"]) >= 2 for i in truth), "every brief seen by several surfaces"


@pytest.mark.parametrize("status", [403, 404, 503])
def test_rest_unavailable_falls_back(sim, crawl, status):
    sim.api_status = status
    truth = sim.site.published_between(AFTER, BEFORE)
    result = crawl(sim, settings={"RETRY_TIMES": 1}, **WINDOW)
    assert result.ids("fetched") == truth
    assert "rest" not in result.stats["discovered"]
    assert result.stats["scrapy"]["briefs/fallback/en"]


def test_editions_can_be_crawled_alone(sim, crawl):
    result = crawl(sim, editions="es", **WINDOW)
    assert result.ids("fetched") == sim.site.published_between(AFTER, BEFORE, lang="es")
    assert {r["edition"] for r in result.records} == {"es"}
    assert all("/es/noticias/noticias-del-dia/" in r["url"] for r in result.records)


def test_translations_are_linked(sim, crawl):
    result = crawl(sim, **WINDOW)
    pairs = [(p.id, p.translation) for p in sim.site.live() if p.translation and p.id in result.ids()]
    assert pairs, "the window should hold at least one translated brief"
    by_id = result.by_id()
    for post_id, other in pairs:
        other_post = sim.site.posts[other]
        assert by_id[post_id]["translations"] == {other_post.lang: sim.url(other_post)}


@pytest.mark.parametrize("surfaces", ["rest", "sitemap", "rss,sitemap,listing"])
def test_nightly_finds_what_was_modified(sim, crawl, surfaces):
    since = sim.site.now - timedelta(days=3)
    truth = sim.site.modified_since(since)
    result = crawl(sim, mode="nightly", since=since.isoformat(), surfaces=surfaces)
    assert result.ids("fetched") == truth


def test_non_brief_categories_are_not_archived(sim, crawl):
    result = crawl(sim, **WINDOW)
    decoys = {
        p.id for p in sim.site.live(briefs_only=False) if not p.is_brief and AFTER <= p.published < BEFORE
    }
    assert decoys, "the window should hold non-brief posts"
    assert not decoys & result.ids()
