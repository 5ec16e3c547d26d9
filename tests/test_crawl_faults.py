"""Bad input and server faults end as per-item records with a reason; the crawl goes on and never leaves the site."""

from __future__ import annotations

from datetime import UTC, datetime

from infra.simulator import RateLimit

AFTER, BEFORE = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 12, tzinfo=UTC)
WINDOW = {"mode": "window", "after": AFTER.isoformat(), "before": BEFORE.isoformat()}

# fault -> (argument, expected status, a phrase the reason or problem must hold)
FAULTS = {
    "status": (500, "failed", "HTTP 500 after retries"),
    "truncate": (None, "failed", "truncated response"),
    "reset": (None, "failed", "connection"),
    "huge": (20 * 2**20, "failed", "size limit"),
    "redirect_loop": (None, "failed", "redirect"),
    "non_html": (None, "failed", "not HTML: Content-Type application/pdf"),
    "empty": (None, "failed", "empty body"),
    "offsite_redirect": (None, "failed", "offsite request refused"),
    "bad_charset": (None, "fetched", "charset"),
    "malformed": (None, "fetched", ""),
    "slow": (0.5, "fetched", ""),
}


def test_each_fault_ends_as_its_record_and_the_crawl_goes_on(sim, crawl):
    posts = [sim.site.posts[i] for i in sorted(sim.site.published_between(AFTER, BEFORE))]
    assert len(posts) > len(FAULTS) + 3
    victims = dict(zip(FAULTS, posts, strict=False))
    for kind, post in victims.items():
        sim.inject(post, kind, FAULTS[kind][0])
    transient = posts[len(FAULTS)]
    sim.inject(transient, "status", 503, times=2)  # recovers after two retries
    result = crawl(sim, settings={"RETRY_TIMES": 2}, **WINDOW)
    by_id = result.by_id()
    for kind, post in victims.items():
        _, status, phrase = FAULTS[kind]
        record = by_id[post.id]
        assert record["status"] == status, (kind, record)
        text = (record["reason"] or "") + " ".join(record["problems"])
        assert phrase in text, (kind, record)
    assert by_id[transient.id]["status"] == "fetched"
    healthy = {p.id for p in posts} - {p.id for p in victims.values()}
    assert {by_id[i]["status"] for i in healthy} == {"fetched"}
    assert result.stats["fetch"]["failed"] == sum(1 for f in FAULTS.values() if f[1] == "failed")
    assert sim.trap.hits == [], "the trap link and the cross-port redirect were never followed"
    assert result.stats["scrapy"]["briefs/offsite_refused"] >= 1


def test_gone_posts_are_recorded_for_tombstones(sim, crawl):
    posts = [sim.site.posts[i] for i in sorted(sim.site.published_between(AFTER, BEFORE))]
    removed_410, removed_404 = posts[0], posts[1]
    result = crawl(sim, **WINDOW)
    removed_410.gone, removed_404.gone = 410, 404  # removed between discovery and fetch: a second run sees it
    again = crawl(sim, mode="reconcile", state=result.state)
    assert {again.by_id()[p.id]["http_status"] for p in (removed_410, removed_404)} == {410, 404}
    assert again.ids("gone") == {removed_410.id, removed_404.id}


def test_robots_txt_is_obeyed(sim, crawl):
    post = sim.site.posts[min(sim.site.published_between(AFTER, BEFORE))]
    sim.robots_disallow.append(post.path)
    result = crawl(sim, **WINDOW)
    assert not sim.hits("^" + post.path), "a disallowed page is never requested"
    record = result.by_id()[post.id]
    assert record["status"] == "failed" and "robots.txt" in record["reason"]
    assert result.ids("fetched") == sim.site.published_between(AFTER, BEFORE) - {post.id}


def test_retry_after_is_obeyed_and_nothing_is_lost(sim, crawl):
    sim.rate_limit = RateLimit(burst=8, window=1.0, retry_after=2)
    truth = sim.site.published_between(AFTER, BEFORE)
    result = crawl(sim, settings={"RETRY_TIMES": 6}, **WINDOW)
    assert result.ids("fetched") == truth, "every brief archived despite the 429 storm"
    hits = sim.hits()
    limited = [h for h in hits if h.status == 429]
    assert limited, "the storm happened"
    for h in limited:
        retry = next((later for later in hits if later.at > h.at and later.target == h.target), None)
        assert retry is not None
        assert retry.at - h.at >= 2 - 0.05, (
            f"{h.target} retried {retry.at - h.at:.2f}s after a 429 asking for 2s"
        )
    assert result.stats["scrapy"]["briefs/retry_after_honoured"] >= len({h.target for h in limited})
