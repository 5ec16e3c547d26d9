"""A corpus of bad inputs: each ends as a recorded per-item failure or is safely ignored; the run goes on and
writes nothing outside the bucket's prefix."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from pipelines.run import run_once
from spiders.runner import CrawlJob

pytestmark = pytest.mark.slow
AFTER, BEFORE = datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 11, 12, tzinfo=UTC)
HTML = {"Content-Type": "text/html; charset=UTF-8"}
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&d;</loc></url></urlset>'
)

# name -> (fault kind, argument, expected status, phrase in the reason or problems)
ARTICLE_CASES = {
    "truncated body": ("truncate", None, "failed", "truncated"),
    "connection reset": ("reset", None, "failed", "connection"),
    "50 MB page": ("huge", 50 * 2**20, "failed", "size limit"),
    "redirect loop": ("redirect_loop", None, "failed", "redirect"),
    "cross-host redirect": ("offsite_redirect", None, "failed", "offsite request refused"),
    "PDF instead of HTML": ("non_html", None, "failed", "not HTML"),
    "empty 200": ("empty", None, "failed", "empty body"),
    "wrong declared charset": ("bad_charset", None, "fetched", "charset"),
    "malformed HTML": ("malformed", None, "fetched", ""),
    "slow response": ("slow", 1.0, "fetched", ""),
    "HTTP 500 every time": ("status", 500, "failed", "HTTP 500"),
    "HTTP 502 every time": ("status", 502, "failed", "HTTP 502"),
    "HTTP 403": ("status", 403, "failed", "HTTP 403"),
    "HTTP 404": ("status", 404, "gone", "HTTP 404"),
    "HTTP 410": ("status", 410, "gone", "HTTP 410"),
    "HTTP 503 every time": ("status", 503, "failed", "HTTP 503"),
    "layout without a body": ("empty_body_layout", None, "fetched", ""),
    "binary body labelled HTML": ("override", (200, HTML, b"\x00\x01\x02\xff" * 4096), "fetched", ""),
    "missing charset, cp1252 bytes": (
        "override",
        (
            200,
            {"Content-Type": "text/html"},
            "<html><body><p>Análisis — señal</p></body></html>".encode("cp1252"),
        ),
        "fetched",
        "",
    ),
    "huge headers": (
        "override",
        (
            200,
            {**HTML, **{f"X-Filler-{i}": "x" * 900 for i in range(120)}},
            b"<html><body><p>ok</p></body></html>",
        ),
        "fetched",
        "",
    ),
    "redirect to a javascript: URL": (
        "override",
        (301, {"Location": "javascript:alert(1)"}, b""),
        "failed",
        "",
    ),
    "redirect to a private address": (
        "override",
        (302, {"Location": "http://10.0.0.1/x/"}, b""),
        "failed",
        "offsite",
    ),
    "XML instead of HTML": (
        "override",
        (200, {"Content-Type": "application/xml"}, BOMB),
        "failed",
        "not HTML",
    ),
}
# name -> (path regex served, override answer, surfaces of the crawl)
DISCOVERY_CASES = {
    "REST answers invalid JSON": (
        r"^/wp-json/wp/v2/posts",
        (200, {"Content-Type": "application/json"}, b"<html>"),
        "auto",
    ),
    "REST answers wrong types": (
        r"^/wp-json/wp/v2/posts",
        (
            200,
            {"Content-Type": "application/json"},
            json.dumps([{"id": "7", "link": 5}, {"id": None}, "x", {"link": "/news/a/"}]).encode(),
        ),
        "rest",
    ),
    "REST answers a dict": (
        r"^/wp-json/wp/v2/posts",
        (200, {"Content-Type": "application/json"}, b'{"code": 1}'),
        "auto",
    ),
    "REST links leave the site or climb": (
        r"^/wp-json/wp/v2/posts",
        (
            200,
            {"Content-Type": "application/json"},
            json.dumps(
                [
                    {"id": 1, "link": "http://127.0.0.2/news/x/"},
                    {"id": 2, "link": "/news/..%2F..%2Fetc%2Fpasswd/"},
                    {"id": 3, "link": "file:///etc/passwd"},
                ]
            ).encode(),
        ),
        "rest",
    ),
    "REST ids of the wrong type or range": (
        r"^/wp-json/wp/v2/posts",
        (
            200,
            {"Content-Type": "application/json"},
            json.dumps(
                [
                    {"id": v, "link": f"/news/{i}/"}
                    for i, v in enumerate(["123", -5, 0, 2**64, True, 1.5, None])
                ]
                + [{"id": 10**400, "link": "http://127.0.0.2/news/x/"}]
            ).encode(),
        ),
        "rest",
    ),
    "sitemap is an XML bomb": (r"^/post-sitemap\.xml", (200, {"Content-Type": "text/xml"}, BOMB), "sitemap"),
    "sitemap is truncated": (
        r"^/sitemap_index\.xml",
        (200, {"Content-Type": "text/xml"}, b"<sitemapindex><sitemap><lo"),
        "sitemap",
    ),
    "feed is not XML": (
        r"^/category/news/feed/",
        (200, {"Content-Type": "application/rss+xml"}, b"\x00\xffnot xml"),
        "rss",
    ),
    "archive page is garbage": (
        r"^/category/news/$",
        (200, HTML, b"<<<>>><article><h2><a href='//evil'>x</a>"),
        "listing",
    ),
}


def test_article_level_corpus(sim, bucket, tmp_path):
    posts = [sim.site.posts[i] for i in sorted(sim.site.published_between(AFTER, BEFORE, lang="en"))]
    assert len(posts) > len(ARTICLE_CASES) + 3
    victims = dict(zip(ARTICLE_CASES, posts, strict=False))
    for name, post in victims.items():
        kind, arg, _, _ = ARTICLE_CASES[name]
        sim.inject(post, kind, arg)
    sim.robots_disallow.append(posts[len(ARTICLE_CASES)].path)  # 24: a page robots.txt forbids
    job = CrawlJob(
        out=tmp_path,
        mode="window",
        site=sim.base,
        editions="en",
        after=AFTER.isoformat(),
        before=BEFORE.isoformat(),
        polite=False,
        settings={"RETRY_TIMES": 1, "RETRY_BACKOFF_BASE": 0.05},
    )
    summary = run_once(bucket, "corpus", job, tmp_path / "work", logging.getLogger("corpus"))
    records = {
        json.loads(line)["post_id"]: json.loads(line)
        for line in (tmp_path / "work" / "crawl" / "records.jsonl").read_text().splitlines()
    }
    for name, post in victims.items():
        _, _, status, phrase = ARTICLE_CASES[name]
        record = records[post.id]
        assert record["status"] == status, (name, record)
        assert phrase in (record["reason"] or "") + " ".join(record["problems"]), (name, record)
    assert records[posts[len(ARTICLE_CASES)].id]["status"] == "failed"
    healthy = {p.id for p in posts[len(ARTICLE_CASES) + 1 :]}
    assert healthy and all(records[i]["status"] == "fetched" for i in healthy), "the crawl went on"
    assert summary["snapshot"] == 1 and summary["counts"]["rejected_empty"] >= 1
    assert sim.trap.hits == []
    everything = list(bucket.client.list_objects_v2(Bucket=bucket.config.bucket).get("Contents", []))
    assert everything and all(o["Key"].startswith(bucket.config.prefix + "/") for o in everything)


@pytest.mark.parametrize("name", DISCOVERY_CASES)
def test_discovery_level_corpus(sim, crawl, name):
    pattern, answer, surfaces = DISCOVERY_CASES[name]
    sim.inject(pattern, "override", answer)
    result = crawl(
        sim,
        mode="window",
        after=AFTER.isoformat(),
        before=BEFORE.isoformat(),
        surfaces=surfaces,
        settings={"RETRY_TIMES": 1},
    )
    assert result.stats["finish_reason"] == "finished"
    assert sim.trap.hits == [] and not sim.hits(r"passwd")
    for record in result.records:
        assert record["url"].startswith(sim.base + "/"), record["url"]
    if surfaces == "auto":  # the REST API broke: the fallbacks still find the whole window
        assert result.ids("fetched") == sim.site.published_between(AFTER, BEFORE)
