"""Conditional GETs, nightly runs after the clock moves, renames as aliases, and removals seen by reconciliation."""

from __future__ import annotations

from datetime import timedelta

from spiders.state import CrawlState


def test_second_run_with_state_is_all_304(sim, crawl):
    since = (sim.site.now - timedelta(days=5)).isoformat()
    first = crawl(sim, mode="nightly", since=since)
    fetched = first.ids("fetched")
    assert fetched == sim.site.modified_since(sim.site.now - timedelta(days=5))
    before = len(sim.hits())
    second = crawl(sim, mode="nightly", since=since, state=first.state)
    assert second.ids("not_modified") == fetched
    assert "fetched" not in second.stats["fetch"]
    article_hits = [
        h for h in sim.hits()[before:] if "/wp-json/" not in h.target and h.target != "/robots.txt"
    ]
    assert article_hits and all(h.status == 304 for h in article_hits), "no page body sent twice"
    assert all(h.headers.get("If-None-Match") for h in article_hits)


def test_nightly_after_clock_advance_fetches_exactly_the_changes(sim, crawl):
    first = crawl(sim, mode="reconcile")  # archive everything once; its state carries the high-water mark
    assert CrawlState.load(first.state).high_water.keys() == {"en", "es"}
    change = sim.site.advance(hours=24, new=5, edited=2, renamed=1)
    second = crawl(sim, mode="nightly", state=first.state)  # since = the state's high-water mark
    expected = set(change.new) | set(change.edited) | set(change.renamed)
    assert second.ids() == expected
    assert second.ids("fetched") == expected
    ((renamed_id, old_path),) = change.renamed.items()
    record = second.by_id()[renamed_id]
    assert record["url"] == sim.url(sim.site.posts[renamed_id])
    assert sim.base + old_path in record["aliases"], "the old URL stays known as an alias"
    state = CrawlState.load(second.state)
    assert sim.base + old_path in state.posts[renamed_id].aliases


def test_reconcile_records_removed_posts_as_gone(sim, crawl):
    baseline = crawl(sim, mode="reconcile", editions="en")
    assert baseline.ids("fetched") == {p.id for p in sim.site.live("en")}
    change = sim.site.advance(hours=24, new=0, edited=0, renamed=1, removed=3)
    before = len(sim.hits())
    result = crawl(sim, mode="reconcile", editions="en", state=baseline.state)
    assert result.ids("gone") == set(change.removed)
    assert {r["http_status"] for r in result.records if r["status"] == "gone"} <= {404, 410}
    renamed_id = next(iter(change.renamed))
    assert result.by_id()[renamed_id]["status"] == "fetched"
    article_hits = [
        h for h in sim.hits()[before:] if not h.target.endswith(".xml") and h.target != "/robots.txt"
    ]
    assert len(article_hits) == len(change.removed) + 1, "unchanged posts are not requested again"
    state = CrawlState.load(result.state)
    assert all(state.posts[i].gone for i in change.removed)


def test_reconcile_request_budget(sim, crawl):
    baseline = crawl(sim, mode="reconcile", editions="en")
    sim.site.advance(hours=24, new=0, edited=0, renamed=0, removed=1)
    before = len(sim.hits())
    crawl(sim, mode="reconcile", editions="en", state=baseline.state)
    hits = sim.hits()[before:]
    sitemaps = -(-len([p for p in sim.site.posts.values() if p.gone is None]) // 1000)
    assert len(hits) <= sitemaps + 3, [h.target for h in hits]
