"""A page's markup is untrusted: one malformed value (a URL with port 99999, a JSON-LD ``@graph`` that is a
string, a date that is a list) is ignored and named in the record's problems; the other values are still read
and the article keeps its fetch record. Pure: no servers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from parsel import Selector
from scrapy.http import HtmlResponse, Request

from spiders.discovery import Candidate
from spiders.page_facts import json_ld_article, page_facts
from spiders.records import fetch_record, safe_fetch_record
from spiders.urls import BadUrl, canonical_url, origin_of, path_of, post_id_from_url, post_id_param, same_site

BASE = "https://insightcrime.org"
URL = f"{BASE}/news/a/"
BAD_URLS = ["http://127.0.0.1:99999/", "http://[x", "http://a:b/", "http://x]/", "http://＃x/", "//["]
PUBLISHED = "2026-11-01T12:00:00+00:00"
GOOD_GRAPH = {
    "@graph": [
        {"@type": "WebPage", "datePublished": "2020-01-01T00:00:00Z"},
        {
            "@type": "NewsArticle",
            "headline": "Headline",
            "datePublished": PUBLISHED,
            "author": [{"name": "A"}],
        },
    ]
}


def page(
    canonical: str | None = URL,
    og_url: str | None = URL,
    shortlink: str | None = f"{BASE}/?p=42",
    hreflang: dict[str, str] | None = None,
    json_ld: object = GOOD_GRAPH,
    raw_json_ld: str | None = None,
) -> str:
    """An article page as WordPress + Yoast write it, with any one value swapped for a bad one."""
    head = [
        f'<link rel="canonical" href="{canonical}" />' if canonical is not None else "",
        f'<meta property="og:url" content="{og_url}" />' if og_url is not None else "",
        f'<link rel="shortlink" href="{shortlink}" />' if shortlink is not None else "",
        '<meta property="og:title" content="OG title" />',
        '<meta property="article:published_time" content="2026-11-02T00:00:00+00:00" />',
        *(f'<link rel="alternate" hreflang="{k}" href="{v}" />' for k, v in (hreflang or {}).items()),
        '<script type="application/ld+json">'
        + (raw_json_ld if raw_json_ld is not None else json.dumps(json_ld))
        + "</script>",
    ]
    return f"<html><head>{''.join(head)}</head><body class='single postid-42'><p>Text.</p></body></html>"


def response(html: str, url: str = URL) -> HtmlResponse:
    return HtmlResponse(
        url,
        body=html.encode(),
        encoding="utf-8",
        headers={"Content-Type": "text/html; charset=UTF-8"},
        request=Request(url),
    )


def record_of(html: str) -> dict:
    record = fetch_record(response(html), Candidate(URL, "en", post_id=42, surfaces={"rest"}), None, BASE)
    assert record["status"] == "fetched" and record["reason"] is None, record
    assert (record["post_id"], record["url"]) == (42, URL), record
    return record


# ---- urls: a malformed URL never raises out of a question --------------------------------------------------
@pytest.mark.parametrize("bad", BAD_URLS)
def test_malformed_urls_are_refused_not_raised(bad):
    with pytest.raises(BadUrl, match="bad URL"):
        canonical_url(bad, BASE)
    with pytest.raises(BadUrl):
        path_of(bad)
    assert not same_site(bad, BASE) and origin_of(bad) is None
    assert post_id_param(bad + "?p=5") is None and post_id_from_url(bad + "?p=5") is None


@pytest.mark.parametrize("bad", [None, 5, ["http://x/"], b"http://x/"])
def test_values_that_are_not_strings_are_bad_urls(bad):
    with pytest.raises(BadUrl, match="not a URL"):
        canonical_url(bad, BASE)  # type: ignore[arg-type]
    assert not same_site(bad, BASE)  # type: ignore[arg-type]


def test_bad_url_is_a_value_error_and_a_bad_base_too():
    assert issubclass(BadUrl, ValueError)
    with pytest.raises(BadUrl):
        canonical_url(URL, "http://[x")
    assert not same_site(URL, "http://127.0.0.1:99999")


# ---- page facts: each value on its own ---------------------------------------------------------------------
def test_a_healthy_page_has_no_problems():
    facts = page_facts(page(hreflang={"es": f"{BASE}/es/noticias/a/"}), BASE)
    assert (facts.canonical, facts.post_id, facts.title) == (URL, 42, "Headline")
    assert facts.translations == {"es": f"{BASE}/es/noticias/a/"}
    assert facts.published == datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert facts.problems == []
    assert record_of(page())["problems"] == []


@pytest.mark.parametrize("bad", BAD_URLS)
def test_bad_canonical_is_ignored_and_og_url_used(bad):
    facts = page_facts(page(canonical=bad, og_url=f"{BASE}/news/from-og/"), BASE)
    assert facts.canonical == f"{BASE}/news/from-og/"
    assert facts.problems == [f"bad_url: canonical {json.dumps(bad, ensure_ascii=False)} ignored"]
    assert (facts.post_id, facts.title) == (42, "Headline")


@pytest.mark.parametrize("bad", BAD_URLS[:2])
def test_bad_canonical_and_og_url_leave_the_fetched_url(bad):
    record = record_of(page(canonical=bad, og_url=bad))
    assert record["problems"] == [f'bad_url: canonical "{bad}" ignored', f'bad_url: og:url "{bad}" ignored']
    assert record["title"] == "Headline" and record["published"] == "2026-11-01T12:00:00Z"


def test_bad_og_url_alone():
    record = record_of(page(canonical=None, og_url="http://[x"))
    assert record["problems"] == ['bad_url: og:url "http://[x" ignored']


def test_bad_hreflang_is_skipped_the_others_kept():
    hreflang = {"es": f"{BASE}/es/noticias/a/", "pt-BR": "http://127.0.0.1:99999/pt/", "fr": "http://[x"}
    record = record_of(page(hreflang=hreflang))
    assert record["translations"] == {"es": f"{BASE}/es/noticias/a/"}
    assert record["problems"] == [
        'bad_url: hreflang pt-BR "http://127.0.0.1:99999/pt/" ignored',
        'bad_url: hreflang fr "http://[x" ignored',
    ]


def test_bad_shortlink_is_noted_and_the_body_class_id_used():
    facts = page_facts(page(shortlink="http://[x/?p=7"), BASE)
    assert facts.post_id == 42 and facts.bad_ids == {}
    assert facts.problems == ['bad_url: shortlink "http://[x/?p=7" ignored']


def test_a_long_bad_url_is_shown_cut():
    bad = "http://[x" + "y" * 500
    (problem,) = page_facts(page(canonical=bad, og_url=None), BASE).problems
    assert problem.startswith('bad_url: canonical "http://[xyyy') and problem.endswith("… ignored")
    assert len(problem) < 80


# ---- JSON-LD of any shape ----------------------------------------------------------------------------------
ARTICLE = {"@type": "NewsArticle", "headline": "Headline", "datePublished": PUBLISHED}
# name -> (JSON-LD, expected published, expected title, problem or None)
JSON_LD_CASES = {
    "@graph a string": (
        {"@graph": "oops"},
        "2026-11-02T00:00:00Z",
        "OG title",
        'json_ld: @graph "oops" ignored',
    ),
    "@graph a number": ({"@graph": 5}, "2026-11-02T00:00:00Z", "OG title", "json_ld: @graph 5 ignored"),
    "@graph null": ({"@graph": None}, "2026-11-02T00:00:00Z", "OG title", "json_ld: @graph null ignored"),
    "@graph strings": ({"@graph": ["a", "b"]}, "2026-11-02T00:00:00Z", "OG title", None),
    "@graph one object": ({"@graph": ARTICLE}, "2026-11-01T12:00:00Z", "Headline", None),
    "top level a number": (7, "2026-11-02T00:00:00Z", "OG title", "json_ld: @graph 7 ignored"),
    "top level a list": ([1, "x", None, ARTICLE], "2026-11-01T12:00:00Z", "Headline", None),
    "@type a dict": (
        {"@graph": [{"@type": {"x": 1}, "datePublished": "2001-01-01"}, ARTICLE]},
        "2026-11-01T12:00:00Z",
        "Headline",
        None,
    ),
    "@type a list of dicts": (
        {"@type": [{"x": 1}, ["NewsArticle"]]},
        "2026-11-02T00:00:00Z",
        "OG title",
        None,
    ),
    "author a number": ({**ARTICLE, "author": 5}, "2026-11-01T12:00:00Z", "Headline", None),
    "datePublished a list": (
        {**ARTICLE, "datePublished": [PUBLISHED]},
        "2026-11-02T00:00:00Z",
        "Headline",
        f'bad_date: json_ld datePublished ["{PUBLISHED}"] ignored',
    ),
    "datePublished a number": (
        {**ARTICLE, "datePublished": 1700000000},
        "2026-11-02T00:00:00Z",
        "Headline",
        "bad_date: json_ld datePublished 1700000000 ignored",
    ),
    "datePublished overflows": (
        {**ARTICLE, "datePublished": "0001-01-01T00:00:00+05:00"},
        "2026-11-02T00:00:00Z",
        "Headline",
        'bad_date: json_ld datePublished "0001-01-01T00:00:00+05:00" ignored',
    ),
    "headline a dict": (
        {**ARTICLE, "headline": {"x": 1}},
        "2026-11-01T12:00:00Z",
        "OG title",
        'json_ld: headline {"x": 1} ignored',
    ),
}


@pytest.mark.parametrize("name", JSON_LD_CASES)
def test_json_ld_of_the_wrong_shape_is_ignored_field_by_field(name):
    data, published, title, problem = JSON_LD_CASES[name]
    html = page(json_ld=data)
    assert isinstance(json_ld_article(Selector(text=html)), dict)
    record = record_of(html)
    assert (record["published"], record["title"]) == (published, title)
    assert record["problems"] == ([problem] if problem else [])


@pytest.mark.parametrize(
    "raw", ["{not json", "[" * 100_000 + "]" * 100_000, '{"@graph": [' + "{}," * 1000 + "{}]}", ""]
)
def test_json_ld_that_is_not_json_or_deep_is_survived(raw):
    record = record_of(page(raw_json_ld=raw))
    assert record["published"] == "2026-11-02T00:00:00Z" and record["title"] == "OG title"
    assert set(record["problems"]) <= {"json_ld: a script is not JSON, ignored"}


def test_a_later_script_with_the_article_is_still_found():
    html = page(
        raw_json_ld='"just a string"</script><script type="application/ld+json">' + json.dumps(ARTICLE)
    )
    assert json_ld_article(Selector(text=html))["headline"] == "Headline"


# ---- the last resort ---------------------------------------------------------------------------------------
class _UnreadableResponse(HtmlResponse):
    """A response whose text cannot be read: stands for any failure nobody foresaw inside fetch_record."""

    @property
    def text(self) -> str:
        raise RuntimeError("cannot read\nsecond line")


def test_safe_fetch_record_turns_an_unforeseen_exception_into_a_failed_record():
    request = Request(URL, meta={"warc": {"file": "w.warc.gz", "offset": 7, "record_id": "<urn:x>"}})
    broken = _UnreadableResponse(
        URL, body=b"<p>x</p>", encoding="utf-8", headers={"Content-Type": "text/html"}, request=request
    )
    candidate = Candidate(URL, "en", post_id=42, surfaces={"rest"})
    with pytest.raises(RuntimeError):
        fetch_record(broken, candidate, None, BASE)
    record = safe_fetch_record(broken, candidate, None, BASE, base_seq=3)
    assert (record["status"], record["reason"]) == ("failed", "parse: RuntimeError: cannot read")
    assert (record["post_id"], record["url"], record["http_status"], record["base_seq"]) == (42, URL, 200, 3)
    assert (record["warc_file"], record["warc_offset"]) == ("w.warc.gz", 7)


def test_safe_fetch_record_is_fetch_record_when_nothing_raises():
    candidate = Candidate(URL, "en", post_id=42, surfaces={"rest"})
    safe = safe_fetch_record(response(page(canonical="http://[x")), candidate, None, BASE)
    plain = fetch_record(response(page(canonical="http://[x")), candidate, None, BASE)
    assert {k: v for k, v in safe.items() if k != "fetched_at"} == {
        k: v for k, v in plain.items() if k != "fetched_at"
    }
    assert safe["status"] == "fetched"
