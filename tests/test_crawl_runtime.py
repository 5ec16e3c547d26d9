"""spiders.runtime stops Scrapy's debug records at the loggers and freezes start-up objects: what a user asks of
the log must still come through (the per-page lines at DEBUG, none at INFO), and the crawl's results not change."""

from __future__ import annotations

import logging

import pytest


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_the_log_level_asked_for_is_the_one_seen(sim, crawl, caplog, level):
    caplog.set_level(logging.INFO, logger="insight_briefs.crawl")
    result = crawl(sim, mode="reconcile", max_items=3, settings={"LOG_LEVEL": level})
    lines = [r.getMessage() for r in caplog.records if r.name == "insight_briefs.crawl"]
    crawled = [line for line in lines if "Crawled (200)" in line]
    assert result.stats["fetch"] == {"fetched": 3}
    assert any("Spider closed (finished)" in line for line in lines)
    if level == "DEBUG":
        assert len(crawled) >= 3, lines[-20:]  # robots.txt, sitemaps and the three articles
    else:
        assert crawled == []


def test_frozen_start_up_or_not_the_crawl_is_the_same(sim, crawl, caplog):
    caplog.set_level(logging.INFO, logger="insight_briefs.crawl")
    tuned = crawl(sim, mode="reconcile")
    plain = crawl(sim, mode="reconcile", settings={"GC_THRESHOLD": ""})
    errors = [
        r.getMessage() for r in caplog.records if "Traceback" in r.getMessage() or "ERROR" in r.getMessage()
    ]
    assert errors == []
    strip = ("fetched_at", "warc_file", "warc_offset", "warc_record_id")
    assert [{k: v for k, v in r.items() if k not in strip} for r in tuned.records] == [
        {k: v for k, v in r.items() if k not in strip} for r in plain.records
    ]
    assert tuned.stats["fetch"] == plain.stats["fetch"] and tuned.stats["fetch"]["fetched"] > 300
