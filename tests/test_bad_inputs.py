"""A corpus of bad inputs: each ends as a recorded per-item failure or is safely ignored; the run goes on and
writes nothing outside the bucket's prefix."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from datetime import UTC, datetime
from html import unescape
from urllib.request import urlopen

import pytest

from pipelines.archive import Archive
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

CANONICAL = r'<link rel="canonical" href="[^"]*" />'
JSON_LD = r'(<script type="application/ld\+json"[^>]*>).*?(</script>)'


def canonical(url: str) -> tuple:
    return ((CANONICAL, f'<link rel="canonical" href="{url}" />'),)


def json_ld(data: object) -> tuple:
    return ((JSON_LD, r"\g<1>" + json.dumps(data).replace("\\", "\\\\") + r"\g<2>"),)


# Pages with one malformed value in their markup: it is ignored with a problem, the article archived as usual.
MARKUP_CASES = {
    "canonical with port 99999": (
        "replace",
        canonical("http://127.0.0.1:99999/"),
        "fetched",
        'bad_url: canonical "http://127.0.0.1:99999/" ignored',
    ),
    "canonical http://[x": (
        "replace",
        canonical("http://[x"),
        "fetched",
        'bad_url: canonical "http://[x" ignored',
    ),
    "og:url http://[x, no canonical": (
        "replace",
        (
            (CANONICAL, ""),
            (r'<meta property="og:url" content="[^"]*" />', '<meta property="og:url" content="http://[x" />'),
        ),
        "fetched",
        'bad_url: og:url "http://[x" ignored',
    ),
    "hreflang http://[x": (
        "replace",
        ((CANONICAL, r'\g<0><link rel="alternate" hreflang="fr" href="http://[x" />'),),
        "fetched",
        'bad_url: hreflang fr "http://[x" ignored',
    ),
    "shortlink with port 99999": (
        "replace",
        (
            (
                r'<link rel="shortlink" href="[^"]*" />',
                '<link rel="shortlink" href="http://127.0.0.1:99999/?p=1" />',
            ),
        ),
        "fetched",
        "bad_url: shortlink",
    ),
    "JSON-LD @graph a string": (
        "replace",
        json_ld({"@graph": "oops"}),
        "fetched",
        'json_ld: @graph "oops" ignored',
    ),
    "JSON-LD @type a dict, author a number, dates a list": (
        "replace",
        json_ld(
            {
                "@graph": [
                    {"@type": {"x": 1}, "author": 5},
                    {"@type": "NewsArticle", "author": 5, "headline": 7, "datePublished": ["2026-11-01"]},
                ]
            }
        ),
        "fetched",
        'bad_date: json_ld datePublished ["2026-11-01"] ignored',
    ),
}
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
    **MARKUP_CASES,
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
    healthy_pages = {name: urlopen(sim.url(victims[name])).read().decode() for name in MARKUP_CASES}
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
    assert all(n for f in sim.faults if f.kind == "replace" for n in f.replaced.values()), (
        "every edit was made"
    )
    archive = Archive(bucket)
    for name, page in healthy_pages.items():  # a malformed value costs nothing else: archived as usual
        post = victims[name]
        version = archive.article(post.id)
        paragraphs = re.findall(r'<p class="wp-block-paragraph">(.*?)</p>', page, re.S)
        text = " ".join((version.text or "").split())
        assert paragraphs and all(_plain(p) in text for p in paragraphs), name
        assert version.metadata and version.metadata.canonical_url == sim.url(post), name
        assert (version.metadata.title, version.url) == (post.title, sim.url(post)), name
        assert version.metadata.published == records[post.id]["published"], name
    healthy = {p.id for p in posts[len(ARTICLE_CASES) + 1 :]}
    assert healthy and all(records[i]["status"] == "fetched" for i in healthy), "the crawl went on"
    assert summary["snapshot"] == 1 and summary["counts"]["rejected_empty"] >= 1
    assert sim.trap.hits == []
    everything = list(bucket.client.list_objects_v2(Bucket=bucket.config.bucket).get("Contents", []))
    assert everything and all(o["Key"].startswith(bucket.config.prefix + "/") for o in everything)


def _plain(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", "", html)).split())


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


# ---- discovery: one bad value skips one item, never a surface ----------------------------------------------
WINDOW = {"mode": "window", "after": AFTER.isoformat(), "before": BEFORE.isoformat()}
MB = 2**20


def _window_posts(sim, count: int) -> list:
    return [sim.site.posts[i] for i in sorted(sim.site.published_between(AFTER, BEFORE, lang="en"))][:count]


def test_rest_items_with_malformed_links_are_skipped_not_the_surface(sim, crawl):
    bad = dict(
        zip((p.id for p in _window_posts(sim, 2)), ("http://127.0.0.1:99999/", "http://[x"), strict=True)
    )
    sim.rest_overrides = {post_id: {"link": link} for post_id, link in bad.items()}
    truth = sim.site.published_between(AFTER, BEFORE)
    result = crawl(sim, settings={"RETRY_TIMES": 1}, **WINDOW)
    assert result.stats["finish_reason"] == "finished"
    assert truth - set(bad) <= result.ids("fetched") <= truth, "every other brief found"
    assert result.stats["scrapy"].get("briefs/discovery_invalid/rest", 0) >= len(bad)
    assert set(result.stats["discovered"]) == {"rest"}, "no fallback"
    assert not [k for k in result.stats["scrapy"] if k.startswith("briefs/fallback/")]
    assert all(r["url"].startswith(sim.base + "/") for r in result.records)


def test_absurd_rest_total_pages_is_survived_in_bounded_memory(sim, crawl):
    """The crawler's process tree, sampled while it runs, stays under 300 MB. (Not its ru_maxrss, nor Scrapy's
    memusage stats built on it: Linux carries the launcher's high-water RSS across exec, and an xdist worker that
    ran Airflow tests before is large.)"""
    import psutil

    sim.rest_total_pages = "1000000000"
    peak, done = 0, threading.Event()

    def sample() -> None:
        nonlocal peak
        me = psutil.Process()
        while not done.is_set():
            tree = 0
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    tree += child.memory_info().rss if "scrapy" in " ".join(child.cmdline()) else 0
            peak = max(peak, tree)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = crawl(sim, settings={"RETRY_TIMES": 1}, **WINDOW)
    finally:
        done.set()
        sampler.join()
    assert result.stats["finish_reason"] == "finished"
    assert result.ids("fetched") == sim.site.published_between(AFTER, BEFORE)
    assert 0 < peak < 300 * MB, peak // MB


@pytest.mark.parametrize(
    ("surface", "path", "spell", "bad"),
    [
        ("rss", r"/feed/", "<link>{}</link>", "http://127.0.0.1:99999/news/x/"),
        ("sitemap", r"^/post-sitemap\d*\.xml", "<loc>{}</loc>", "http://[x"),
    ],
)
def test_a_malformed_feed_or_sitemap_url_skips_that_item(sim, crawl, surface, path, spell, bad):
    (victim,) = _window_posts(sim, 1)
    edit = (re.escape(spell.format(sim.url(victim))), spell.format(bad))
    sim.inject(path, "replace", (edit,))
    truth = sim.site.published_between(AFTER, BEFORE)
    result = crawl(sim, surfaces=surface, settings={"RETRY_TIMES": 1}, **WINDOW)
    assert sim.faults[-1].replaced[edit[0]] >= 1, "the bad URL was served"
    assert result.stats["finish_reason"] == "finished"
    assert truth - {victim.id} <= result.ids("fetched") <= truth, "every other brief found"
    assert result.stats["scrapy"].get(f"briefs/discovery_invalid/{surface}", 0) >= 1
    assert all(r["url"].startswith(sim.base + "/") for r in result.records)
