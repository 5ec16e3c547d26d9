"""Scope and editions: subcategory posts on every surface, the REST strategy per edition (probed once, kept in the
crawl state, re-probed when stale or failing), both WordPress variants, and the category override."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from infra.simulator import Simulator, Site
from spiders.state import CrawlState

AFTER = datetime(2026, 8, 1, tzinfo=UTC)
BEFORE = datetime(2026, 11, 20, tzinfo=UTC)
WINDOW = {"mode": "window", "after": AFTER.isoformat(), "before": BEFORE.isoformat()}


def child_only(sim) -> set[int]:
    """Live briefs in News > Analysis only: a child category no surface lists by the parent's id."""
    ids = {i for i in sim.site.briefs_in("analysis") if AFTER <= sim.site.posts[i].published < BEFORE}
    assert len(ids) >= 3, "the window should hold posts of the child category"
    return ids


@pytest.mark.parametrize("surface", ["rest", "rss", "sitemap", "listing"])
def test_a_post_only_in_a_child_category_is_found_by_each_surface_alone(sim, crawl, surface):
    wanted = child_only(sim)
    result = crawl(sim, surfaces=surface, editions="en", **WINDOW)
    assert wanted <= result.ids("fetched")
    assert all("/news/analysis/" in result.by_id()[i]["url"] for i in wanted)


def test_a_second_reconcile_refetches_nothing(sim, crawl):
    first = crawl(sim, mode="reconcile")
    assert child_only(sim) <= first.ids("fetched")
    second = crawl(sim, mode="reconcile", state=first.state)
    assert second.stats["fetch"] == {}, "every post's sitemap lastmod is what the state already holds"
    assert second.stats["scrapy"]["briefs/reconcile/unchanged"] == len(sim.site.live())
    assert second.stats["scrapy"].get("briefs/reconcile/missing_from_sitemaps", 0) == 0


def category_requests(sim) -> list[str]:
    return [h.target for h in sim.hits(r"/wp-json/wp/v2/categories")]


def strategies(result) -> dict:
    return {e: s.as_dict() for e, s in CrawlState.load(result.state).strategies.items()}


def test_multilingual_wordpress_strategy_is_kept_and_reused(sim, crawl):
    since = sim.site.now - timedelta(days=3)
    first = crawl(sim, mode="nightly", since=since.isoformat())
    kept = strategies(first)
    assert {e: (s["rest_root"], s["lang"]) for e, s in kept.items()} == {"en": ("", True), "es": ("", True)}
    assert set(kept["en"]["categories"]) == {"news", "brief", "analysis"}
    assert kept["en"]["base_url"] == sim.base
    assert first.ids("fetched") == sim.site.modified_since(since)
    assert len(category_requests(sim)) == 2, "one category listing per edition"
    second = crawl(sim, mode="nightly", since=since.isoformat(), state=first.state)
    assert len(category_requests(sim)) == 4, "read again each run: a new subcategory counts tonight"
    assert second.ids("fetched", "not_modified") == sim.site.modified_since(since)


def test_vanilla_wordpress_with_a_separate_spanish_install(crawl):
    with Simulator(Site(posts=300), wordpress="vanilla") as sim:
        since = sim.site.now - timedelta(days=5)
        first = crawl(sim, mode="nightly", since=since.isoformat())
        kept = strategies(first)
        assert kept["en"]["rest_root"] == "" and kept["es"]["rest_root"] == "/es"
        assert set(kept["es"]["categories"]) == {"noticias-del-dia"}
        assert first.ids("fetched") == sim.site.modified_since(since)
        spanish = sim.site.modified_since(since, "es")
        assert {r["edition"] for r in first.records if r["post_id"] in spanish} == {"es"}
        assert first.stats["surfaces"]["es"]["rest"]["status"] == "ok"
        assert "briefs/fallback/es" not in first.stats["scrapy"], "no fallback: the Spanish install answered"
        hits_before = len(sim.hits(""))
        second = crawl(sim, mode="nightly", since=since.isoformat(), state=first.state)
        later = [h.target for h in sim.log[hits_before:]]
        assert [t for t in later if t.startswith("/es/wp-json/wp/v2/categories")], "the install that worked"
        assert not [t for t in later if t.startswith("/wp-json/") and "lang=es" in t], (
            "not the one that failed"
        )
        assert second.ids("fetched", "not_modified") == sim.site.modified_since(since)


def test_a_stale_strategy_searches_every_install_again(crawl, tmp_path):
    with Simulator(Site(posts=300), wordpress="vanilla") as sim:
        since = (sim.site.now - timedelta(days=2)).isoformat()
        first = crawl(sim, mode="nightly", since=since)
        state = CrawlState.load(first.state)
        for strategy in state.strategies.values():
            strategy.probed_at = (datetime.now(UTC) - timedelta(days=8)).isoformat()
        state.save(tmp_path / "stale.jsonl")
        before = len(sim.hits(r"^/wp-json/wp/v2/categories\?.*lang=es"))
        crawl(sim, mode="nightly", since=since, state=tmp_path / "stale.jsonl")
        assert len(sim.hits(r"^/wp-json/wp/v2/categories\?.*lang=es")) == before + 1, "the main install again"


def test_a_cached_strategy_that_no_longer_holds_is_replaced_in_the_same_run(sim, crawl, tmp_path):
    since = (sim.site.now - timedelta(days=2)).isoformat()
    first = crawl(sim, mode="nightly", since=since)
    state = CrawlState.load(first.state)
    state.strategies["en"].categories = {"news": [99999]}  # the taxonomy changed: the old ids find nothing
    state.strategies["en"].rest_root = "/moved"  # and the install moved
    state.save(tmp_path / "moved.jsonl")
    again = crawl(sim, mode="nightly", since=since, state=tmp_path / "moved.jsonl")
    assert strategies(again)["en"]["rest_root"] == ""
    assert strategies(again)["en"]["categories"]["news"] == [2]
    assert again.stats["surfaces"]["en"]["rest"]["status"] == "ok"
    assert again.ids("fetched", "not_modified") >= sim.site.modified_since(
        datetime.fromisoformat(since), lang="en"
    )


def test_a_refused_rest_api_is_remembered_and_skipped_until_the_weekly_probe(sim, crawl):
    sim.api_status = 403
    since = (sim.site.now - timedelta(days=2)).isoformat()
    first = crawl(sim, mode="nightly", since=since)
    assert first.stats["surfaces"]["en"]["rest"]["status"] == "failed"
    assert strategies(first)["en"]["rest_root"] is None
    before = len(sim.hits(r"^/wp-json/"))
    second = crawl(sim, mode="nightly", since=since, state=first.state)
    assert len(sim.hits(r"^/wp-json/")) == before, "REST is not asked again this week"
    assert second.stats["surfaces"]["en"]["rest"]["status"] == "skipped"
    assert second.ids("fetched", "not_modified") == sim.site.modified_since(datetime.fromisoformat(since))


def test_the_category_override_narrows_the_scope_to_a_subtree(sim, crawl):
    result = crawl(sim, editions="en", categories="analysis", **WINDOW)
    assert result.ids("fetched") == child_only(sim)
    kept = strategies(result)["en"]
    assert kept["scope"] == ["analysis"] and set(kept["categories"]) == {"analysis"}


def test_the_generic_site_is_crawled_with_its_own_profile(crawl):
    from infra.simulator.site import GENERIC_NEWS

    with Simulator(Site(posts=200, spec=GENERIC_NEWS), wordpress="vanilla") as sim:
        truth = sim.site.published_between(AFTER, BEFORE)
        courts = {i for i in sim.site.briefs_in("courts") if i in truth}
        assert courts, "the window should hold posts of the child category"
        result = crawl(sim, profile="harbourgazette", **WINDOW)
        assert result.ids("fetched") == truth
        assert json.loads((result.out / "stats.json").read_text())["editions"] == ["en"]
        assert strategies(result)["en"]["categories"].keys() == {"local", "courts"}
        assert sim.trap.hits == []


def test_a_post_id_claimed_by_two_installs_is_never_merged(crawl):
    """Vanilla WordPress with a separate Spanish install: its ids are its own. Should the two installs hand out
    the same id, both posts are fetched, the crawl says so, and the commit refuses (tests/test_units_plan.py)."""
    with Simulator(Site(posts=300), wordpress="vanilla") as sim:
        since = sim.site.now - timedelta(days=5)
        english = sorted(sim.site.modified_since(since, "en"))[0]
        spanish = sorted(sim.site.modified_since(since, "es"))[0]
        sim.rest_overrides[spanish] = {"id": english}
        result = crawl(sim, mode="nightly", since=since.isoformat())
        assert result.stats["scrapy"]["briefs/post_id_collision"] == 1
        claimed = [r for r in result.records if r["post_id"] == english]
        assert sorted(r["edition"] for r in claimed) == ["en", "es"], (
            "both posts fetched, neither merged away"
        )
        assert sim.url(sim.site.posts[spanish]) in {r["url"] for r in claimed}


def test_wordpress_core_sitemaps_stand_in_when_there_is_no_yoast(sim, crawl):
    sim.sitemaps = "core"
    first = crawl(sim, mode="reconcile")
    assert first.ids("fetched") == {p.id for p in sim.site.live()}
    assert sim.hits(r"^/wp-sitemap-posts-post-1\.xml$") and not sim.hits(r"taxonomies")
    assert first.stats["surfaces"]["en"]["sitemap"]["status"] == "ok"
