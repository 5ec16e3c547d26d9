"""Post ids from every surface go through one check (``spiders.urls.valid_post_id``): a bad id is never a record's
``post_id``; the record and the counters say what was rejected, and the crawl goes on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from scrapy.http import HtmlResponse, Request

from infra.simulator.surfaces import post_json
from spiders.discovery import Candidate, parse_listing, read_rest_page, read_rss
from spiders.page_facts import page_facts
from spiders.records import fetch_record
from spiders.sites import load_profile
from spiders.state import CrawlState, KnownPost
from spiders.urls import MAX_POST_ID, id_in_classes, post_id_from_url, show_bad_id, valid_post_id

BASE = "https://insightcrime.org"
PROFILE = load_profile("insightcrime", BASE)
AFTER, BEFORE = datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 11, 12, tzinfo=UTC)
BAD_JSON_IDS = ["123", -5, 0, 2**64, True, 1.5]
HUGE = "99999999999999999999"


# ---- the validator ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("good", [1, 7, 351087, MAX_POST_ID])
def test_valid_ids_pass(good):
    assert valid_post_id(good) == good
    assert valid_post_id(str(good), text=True) == good


@pytest.mark.parametrize(
    "bad", ["123", -5, 0, 2**63, 2**64, True, False, 1.5, 7.0, None, [], {}, HUGE, float("nan")]
)
def test_bad_json_ids_are_rejected(bad):
    assert valid_post_id(bad) is None


@pytest.mark.parametrize(
    "bad", ["", "0", "-5", "+5", " 5", "5 ", "1.5", "1e3", "0x10", HUGE, str(2**63), "٣", "²", "9" * 5000]
)
def test_bad_text_ids_are_rejected(bad):
    assert valid_post_id(bad, text=True) is None


def test_show_bad_id_spells_the_source_value_on_one_short_line():
    assert [show_bad_id(v) for v in ("123", True, 1.5, 2**64)] == [
        '"123"',
        "true",
        "1.5",
        "18446744073709551616",
    ]
    long = show_bad_id("9" * 500 + "\n")
    assert len(long) == 40 and long.endswith("…") and "\n" not in long


def test_shortlinks_and_classes():
    assert post_id_from_url(f"{BASE}/?p=351087") == 351087
    for bad in ("0", HUGE, "12abc", "-1"):
        assert post_id_from_url(f"{BASE}/?p={bad}") is None
    assert id_in_classes("post-template-default post-0 type-post", "post-") == "0"
    assert id_in_classes("post type-post", "post-") is None


# ---- each surface ----------------------------------------------------------------------------------------------
def _rest_item(post_id, slug="a") -> dict:
    return {"id": post_id, "link": f"{BASE}/news/{slug}/", "lang": "en", "date_gmt": "2026-11-01T00:00:00"}


def test_rest_bad_ids_become_unidentified_candidates():
    items = [_rest_item(1, "good")] + [_rest_item(v, f"s{i}") for i, v in enumerate(BAD_JSON_IDS)]
    items.append({"id": "9", "link": "https://evil.org/x/"})  # a bad link is skipped whatever its id
    page = read_rest_page(json.dumps(items).encode(), PROFILE, "en")
    assert [c.post_id for c in page.candidates] == [1]
    assert page.invalid == len(BAD_JSON_IDS) + 1
    assert [c.post_id for c in page.unidentified] == [None] * len(BAD_JSON_IDS)
    assert [c.bad_ids["rest id"] for c in page.unidentified] == [show_bad_id(v) for v in BAD_JSON_IDS]
    assert all(c.rest["id"] is None for c in page.unidentified), "the bad value is not kept as the REST id"


def test_rss_bad_guid_falls_back_to_post_id_and_bad_both_leave_none():
    def item(slug: str, guid: str, post_id: str) -> str:
        return (
            f"<item><link>{BASE}/news/{slug}/</link><guid>{BASE}/?p={guid}</guid>"
            f'<post-id xmlns="com-wordpress:feed-additions:1">{post_id}</post-id></item>'
        )

    body = f"<rss><channel>{item('a', HUGE, '42')}{item('b', '0', '-3')}{item('c', '5', '6')}</channel></rss>"
    (a, b, c), _ = read_rss(body.encode(), PROFILE, "en")
    assert (a.post_id, a.bad_ids) == (42, {"rss guid": f'"{HUGE}"'})
    assert (b.post_id, b.bad_ids) == (None, {"rss guid": '"0"', "rss post-id": '"-3"'})
    assert (c.post_id, c.bad_ids) == (5, {})


def test_listing_bad_class_ids():
    body = (
        f'<article class="post-0 post"><h2><a href="{BASE}/news/a/">a</a></h2></article>'
        f'<article class="post-{HUGE} post"><h2><a href="{BASE}/news/b/">b</a></h2></article>'
        f'<article class="post-²"><h2><a href="{BASE}/news/c/">c</a></h2></article>'
        f'<article class="post-8 post"><h2><a href="{BASE}/news/d/">d</a></h2></article>'
    ).encode()
    found, _ = parse_listing(body, f"{BASE}/category/news/", PROFILE, "en")
    assert [c.post_id for c in found] == [None, None, None, 8]
    assert [c.bad_ids for c in found][:3] == [
        {"listing class": '"post-0"'},
        {"listing class": f'"post-{HUGE}"'},
        {"listing class": '"post-²"'},
    ]


def _page(shortlink: str | None, body_id: str | None) -> str:
    link = f'<link rel="shortlink" href="{BASE}/?p={shortlink}" />' if shortlink is not None else ""
    return f'<html><head>{link}</head><body class="single postid-{body_id}"><p>x</p></body></html>'


def test_page_facts_take_the_first_valid_id():
    assert page_facts(_page("12", "13"), BASE).post_id == 12
    facts = page_facts(_page(HUGE, "13"), BASE)
    assert (facts.post_id, facts.bad_ids) == (13, {"page shortlink": f'"{HUGE}"'})
    facts = page_facts(_page(HUGE, "0"), BASE)
    assert facts.post_id is None and set(facts.bad_ids) == {"page shortlink", "page body class"}


def _response(url: str, html: str) -> HtmlResponse:
    return HtmlResponse(
        url, body=html.encode(), encoding="utf-8", headers={"Content-Type": "text/html"}, request=Request(url)
    )


def test_record_with_only_bad_ids_fails_and_names_them():
    url = f"{BASE}/news/a/"
    candidate = Candidate(url, "en", surfaces={"rest"}, bad_ids={"rest id": show_bad_id("123")})
    record = fetch_record(_response(url, _page(HUGE, None)), candidate, None, BASE, base_seq=3)
    assert record["post_id"] is None and record["status"] == "failed"
    assert (
        record["reason"] == f'bad_post_id: no valid post id (rejected page shortlink "{HUGE}", rest id "123")'
    )
    assert record["problems"] == [
        'bad_post_id: rest id "123" rejected',
        f'bad_post_id: page shortlink "{HUGE}" rejected',
    ]
    assert record["base_seq"] == 3


def test_record_with_a_bad_discovery_id_takes_the_pages_valid_id():
    url = f"{BASE}/news/a/"
    candidate = Candidate(url, "en", surfaces={"rest"}, bad_ids={"rest id": "true"})
    record = fetch_record(_response(url, _page("77", None)), candidate, None, BASE)
    assert (record["post_id"], record["status"], record["reason"]) == (77, "fetched", None)
    assert record["problems"] == ["bad_post_id: rest id true rejected"]


def test_page_without_any_id_is_unchanged():
    url = f"{BASE}/news/a/"
    record = fetch_record(
        _response(url, "<html><body><p>x</p></body></html>"), Candidate(url, "en"), None, BASE
    )
    assert record["status"] == "fetched" and record["post_id"] is None
    assert record["problems"] == ["post_id: none found (no REST id, guid or shortlink)"]


@pytest.mark.parametrize("bad", ['"5"', "0", "-5", "true", "1.5", str(2**64), HUGE])
def test_state_file_with_a_bad_post_id_is_refused(tmp_path, bad):
    path = tmp_path / "state.jsonl"
    path.write_text(f'{{"kind": "post", "post_id": {bad}, "edition": "en", "url": "{BASE}/news/a/"}}\n')
    with pytest.raises(
        ValueError, match=r"state\.jsonl:1: not a crawl-state record \(post_id .* is not a positive"
    ):
        CrawlState.load(path)
    with pytest.raises(ValueError):
        KnownPost(json.loads(bad), "en", f"{BASE}/news/a/")


# ---- a real crawl ----------------------------------------------------------------------------------------------
def test_crawl_with_bad_rest_ids(sim, crawl, tmp_path):
    """The REST API gives six posts bad ids: their pages' shortlinks identify five; the sixth page has only bad
    ids of its own, so its record fails with post_id None. Every other post is fetched as usual."""
    posts = [sim.site.posts[i] for i in sorted(sim.site.published_between(AFTER, BEFORE, lang="en"))]
    items = [post_json(p, sim.base, sim.site) for p in posts]
    for item, bad in zip(items, BAD_JSON_IDS, strict=False):
        item["id"] = bad
    victims = {p.id: bad for p, bad in zip(posts, BAD_JSON_IDS, strict=False)}
    anonymous = posts[3]  # REST id 2**64, and a page whose shortlink and body class are bad too
    sim.inject(
        r"^/wp-json/wp/v2/posts",
        "override",
        (200, {"Content-Type": "application/json"}, json.dumps(items).encode()),
    )
    _, headers, page = sim.route(anonymous.path)
    page = page.replace(f"/?p={anonymous.id}".encode(), f"/?p={HUGE}".encode())
    page = page.replace(f"postid-{anonymous.id}".encode(), b"postid-0")
    sim.inject(anonymous, "override", (200, headers, page))
    state = tmp_path / "given-state.jsonl"
    CrawlState(base_seq=7).save(state)

    result = crawl(
        sim,
        mode="window",
        editions="en",
        surfaces="rest",
        after=AFTER.isoformat(),
        before=BEFORE.isoformat(),
        state=state,
    )

    records = result.records
    assert all(r["post_id"] is None or valid_post_id(r["post_id"]) == r["post_id"] for r in records)
    assert all(r["base_seq"] == 7 for r in records)
    by_id = result.by_id()
    for post_id, bad in victims.items():
        if post_id == anonymous.id:
            continue
        record = by_id[post_id]
        assert record["status"] == "fetched", record
        assert record["problems"] == [f"bad_post_id: rest id {show_bad_id(bad)} rejected"]
    [failed] = [r for r in records if r["status"] == "failed"]
    assert failed["post_id"] is None and failed["url"] == sim.url(anonymous)
    assert failed["reason"] == (
        'bad_post_id: no valid post id (rejected page body class "0", '
        f'page shortlink "{HUGE}", rest id 18446744073709551616)'
    )
    assert result.ids("fetched") == {p.id for p in posts} - {anonymous.id}, "valid posts are still archived"
    assert result.warc_files
    stats = result.stats
    assert stats["bad_post_id"] == {"rest": len(BAD_JSON_IDS)}
    assert stats["scrapy"]["briefs/bad_post_id"] == len(BAD_JSON_IDS)
    assert stats["scrapy"]["briefs/discovery_invalid/rest"] == len(BAD_JSON_IDS)
    assert stats["fetch"]["failed"] == 1 and stats["problems"]["bad_post_id"] == len(BAD_JSON_IDS) + 2
    assert CrawlState.load(result.state).base_seq == 7
