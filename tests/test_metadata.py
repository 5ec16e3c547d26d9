"""Metadata in layers: each field from the first layer that has it, whatever the theme leaves out, and a quality
flag for what no layer could give."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from parsel import Selector

from infra.simulator.pages import article_page
from infra.simulator.site import Site
from pipelines.clean import clean_page
from pipelines.metadata import extract_metadata, metadata_gaps, split_authors
from spiders.sites import load_profile

SEED = Path(__file__).resolve().parent.parent / "infra/simulator/data"
BASE = "https://insightcrime.org"
URL = f"{BASE}/news/brief/a-brief/"
PROFILE = load_profile("insightcrime")
BODY = (
    "<p>"
    + "Security forces in the region reported a sharp rise in extortion of transport workers. " * 4
    + "</p>"
)


def page(head: str = "", body: str = "") -> str:
    return f"<!doctype html><html lang='en-US'><head><title>A Brief - InSight Crime</title>{head}</head><body>{body}</body></html>"


def meta(
    html: str, rest: dict | None = None, feed: dict | None = None, url: str = URL
) -> tuple[dict, list[str]]:
    return extract_metadata(Selector(text=html), url, "en", PROFILE, rest, feed=feed)


def ld(graph: list[dict]) -> str:
    return f'<script type="application/ld+json">{json.dumps({"@context": "https://schema.org", "@graph": graph})}</script>'


def test_the_seed_page_still_gives_exactly_the_expected_metadata():
    site = Site(posts=20)
    post = site.seed_post
    base = "http://127.0.0.1:8080"
    html = article_page(site, post, base)
    metadata, gaps = extract_metadata(
        Selector(text=html), base + post.path, "en", load_profile("insightcrime", base), None
    )
    expected = json.loads((SEED / "seed-expected-metadata.json").read_text())
    assert expected["url"].endswith(post.path)
    for field in ("title", "authors", "language", "section", "tags"):
        assert metadata[field] == expected[field], field
    assert re.fullmatch(expected["published"] + r"T\d\d:\d\d:\d\dZ", metadata["published"])
    assert metadata["countries"] == ["Peru"] and metadata["canonical_url"] == base + post.path
    assert gaps == []


def test_json_ld_authors_given_as_id_references_are_resolved_in_the_graph():
    graph = [
        {
            "@type": "NewsArticle",
            "@id": f"{URL}#article",
            "author": [{"@id": f"{BASE}/#/schema/person/1"}, {"@id": f"{BASE}/#/schema/person/2"}],
            "datePublished": "2024-05-02T15:04:05+00:00",
            "keywords": "Mexico, Extortion",
            "articleSection": ["Brief"],
        },
        {"@type": "Person", "@id": f"{BASE}/#/schema/person/1", "name": "Jane Doe"},
        {"@type": ["Person"], "@id": f"{BASE}/#/schema/person/2", "name": "Juan Pérez"},
    ]
    lower_layers = '<meta name="author" content="Someone Else" /><a rel="author" href="/author/x/">Other</a>'
    metadata, gaps = meta(page(ld(graph) + lower_layers, BODY))
    assert metadata["authors"] == ["Jane Doe", "Juan Pérez"], "JSON-LD comes first"
    assert metadata["published"] == "2024-05-02T15:04:05Z"
    assert metadata["tags"] == ["Mexico", "Extortion"] and metadata["countries"] == ["Mexico"]
    assert metadata["section"] == "brief" and gaps == []


def test_an_unresolvable_author_reference_falls_through_to_the_next_layer_and_is_flagged_when_none_helps():
    graph = [
        {"@type": "Article", "author": {"@id": f"{BASE}/#/schema/person/404"}, "datePublished": "2024-05-02"}
    ]
    metadata, gaps = meta(page(ld(graph) + '<meta name="author" content="Jane Doe" />'))
    assert metadata["authors"] == ["Jane Doe"]
    metadata, gaps = meta(page(ld(graph)))
    assert metadata["authors"] == [] and "missing_authors" in gaps


def test_opengraph_and_meta_tags_alone():
    head = (
        '<meta property="og:title" content="Extortion Rises in Honduras" />'
        '<meta property="article:published_time" content="2024-03-10T09:30:00-06:00" />'
        '<meta property="article:modified_time" content="2024-03-11T10:00:00-06:00" />'
        '<meta property="article:section" content="Analysis" />'
        '<meta property="article:tag" content="Honduras" /><meta property="article:tag" content="Extortion" />'
        '<meta name="author" content="Jane Doe and John Roe" />'
    )
    metadata, gaps = meta(page(head, BODY))
    assert metadata["title"] == "Extortion Rises in Honduras"
    assert metadata["authors"] == ["Jane Doe", "John Roe"]
    assert (metadata["published"], metadata["modified"]) == ("2024-03-10T15:30:00Z", "2024-03-11T16:00:00Z")
    assert metadata["tags"] == ["Honduras", "Extortion"] and metadata["countries"] == ["Honduras"]
    assert metadata["section"] == "analysis" and gaps == []


def test_the_visible_byline_alone_and_not_the_related_teasers():
    body = (
        '<article id="post-7"><h1>A Brief</h1><div class="entry-meta"><span class="byline">By '
        '<a href="/author/jane-doe/">Jane Doe</a> and <a href="/author/juan-perez/">Juan Pérez</a></span>'
        '<a href="/tag/guatemala/" rel="tag">Guatemala</a><a href="/category/news/" rel="category tag">News</a>'
        '<time class="entry-date published" datetime="2024-07-01T18:00:00+00:00">July 1</time></div>'
        f"{BODY}</article>"
        '<section class="related"><article class="teaser"><a rel="author" href="/author/x/">Other Writer</a>'
        '<a rel="tag" href="/tag/peru/">Peru</a><time datetime="2020-01-01T00:00:00+00:00">old</time></article>'
        "</section>"
    )
    metadata, gaps = meta(page("", body))
    assert metadata["authors"] == ["Jane Doe", "Juan Pérez"]
    assert metadata["tags"] == ["Guatemala"]
    assert metadata["published"] == "2024-07-01T18:00:00Z" and gaps == []


def test_a_byline_without_links_is_split_into_people():
    body = f'<article id="post-7"><p class="byline">Por Ana Gómez y Luis Ruiz</p>{BODY}</article>'
    assert meta(page("", body))[0]["authors"] == ["Ana Gómez", "Luis Ruiz"]


def test_trafilaturas_own_extraction_finds_an_author_the_other_markup_misses():
    body = f"<main><h1>A Brief</h1><div class='entry-meta'><span class='author-name'>Jane Doe</span></div>{BODY}</main>"
    assert meta(page("", body))[0]["authors"] == ["Jane Doe"]
    assert meta(page("", f"<main><h1>A Brief</h1>{BODY}</main>"))[0]["authors"] == []


def test_the_rest_record_fills_what_a_bare_page_lacks():
    rest = {
        "id": 7,
        "date_gmt": "2024-02-03T04:05:06",
        "modified_gmt": "2024-02-04T00:00:00",
        "title": "Gangs &#8217;Tax&#8217; Buses",
        "authors": ["Jane Doe", "Juan Pérez"],
        "tags": ["El Salvador", "Extortion"],
        "categories": ["Brief"],
    }
    metadata, gaps = meta(f"<html><body><main>{BODY}</main></body></html>", rest, url=f"{BASE}/a-brief/")
    assert metadata["authors"] == ["Jane Doe", "Juan Pérez"]
    assert (metadata["published"], metadata["modified"]) == ("2024-02-03T04:05:06Z", "2024-02-04T00:00:00Z")
    assert metadata["tags"] == ["El Salvador", "Extortion"] and metadata["countries"] == ["El Salvador"]
    assert metadata["title"] == "Gangs ’Tax’ Buses" and metadata["section"] == "brief"
    assert gaps == []


def test_rest_without_authors_users_refused_falls_back_to_the_feeds_dc_creator():
    rest = {"id": 7, "date_gmt": "2024-02-03T04:05:06", "authors": [], "tags": [], "categories": ["Brief"]}
    feed = {"authors": ["Jane Doe and Juan Pérez"], "categories": ["Brief", "Venezuela"]}
    metadata, gaps = meta(page("", f"<main>{BODY}</main>"), rest, feed)
    assert metadata["authors"] == ["Jane Doe", "Juan Pérez"]
    assert metadata["tags"] == ["Venezuela"], "the feed's <category> minus the post's categories"
    assert gaps == []
    metadata, gaps = meta(page("", f"<main>{BODY}</main>"), rest)
    assert metadata["authors"] == [] and gaps == ["missing_authors"]


@pytest.mark.parametrize(
    "byline, people",
    [
        ("By Jane Doe and Juan Pérez", ["Jane Doe", "Juan Pérez"]),
        ("Por Ana Gómez y Luis Ruiz", ["Ana Gómez", "Luis Ruiz"]),
        ("Jane Doe, Juan Pérez", ["Jane Doe", "Juan Pérez"]),
        ("Jane Doe & Juan Pérez", ["Jane Doe", "Juan Pérez"]),
        ("Jane Doe, Juan Pérez, and Ana Gómez", ["Jane Doe", "Juan Pérez", "Ana Gómez"]),
        ("Jane Doe; Juan Pérez", ["Jane Doe", "Juan Pérez"]),
        ("Andrea Yanez", ["Andrea Yanez"]),
    ],
)
def test_co_authors_are_split(byline, people):
    assert split_authors(byline) == people


def test_co_authors_are_deduplicated_in_order():
    head = '<meta name="author" content="Jane Doe, Juan Pérez, jane doe and Jane Doe" />'
    assert meta(page(head))[0]["authors"] == ["Jane Doe", "Juan Pérez"]


def test_a_site_local_page_time_yields_to_rest_date_gmt_across_daylight_saving():
    # 01:30 on 14 March 2021 in New York is after the switch to daylight time: 05:30 UTC, not 06:30 or 01:30.
    body = f'<article id="post-7"><time class="published" datetime="2021-03-14T01:30:00">Mar 14</time>{BODY}</article>'
    metadata, _ = meta(page("", body), {"date_gmt": "2021-03-14T05:30:00", "date": "2021-03-14T01:30:00"})
    assert metadata["published"] == "2021-03-14T05:30:00Z"
    naive_og = '<meta property="article:published_time" content="2021-03-14T01:30:00" />'
    metadata, _ = meta(page(naive_og), {"date_gmt": "2021-03-14T05:30:00"})
    assert metadata["published"] == "2021-03-14T05:30:00Z"
    metadata, gaps = meta(page("", body))
    assert metadata["published"] == "2021-03-14T01:30:00Z" and gaps == ["missing_authors"], "a last resort"


def test_the_databases_dates_come_before_what_a_theme_prints():
    head = '<meta property="article:published_time" content="2021-03-14T01:30:00-05:00" />'
    metadata, _ = meta(page(head), {"date_gmt": "2021-03-14T09:00:00"})
    assert metadata["published"] == "2021-03-14T09:00:00Z", "REST date_gmt is the database's value"
    assert meta(page(head))[0]["published"] == "2021-03-14T06:30:00Z", "the page's own, with its offset"


def test_a_tagdiv_updated_time_is_the_publication_date_not_a_modification():
    """tagDiv marks the *published* time ``entry-date updated``: taken as dateModified, every reconcile would
    see a newer sitemap lastmod and fetch everything again."""
    body = (
        '<article id="post-7"><time class="entry-date updated td-module-date" datetime="2024-03-01T10:00:00+00:00">'
        f"1 March 2024</time>{BODY}</article>"
    )
    metadata, _ = meta(page("", body), {"modified_gmt": "2024-06-20T08:00:00"})
    assert metadata["modified"] == "2024-06-20T08:00:00Z"
    assert meta(page("", body))[0]["modified"] is None
    assert meta(page("", body))[0]["published"] == "2024-03-01T10:00:00Z"


@pytest.mark.parametrize(
    "name",
    ["Santiago Ramón y Cajal", "José Ortega y Gasset", "Martin Luther King, Jr.", "Crime & Justice Desk"],
)
def test_one_persons_name_is_never_split(name):
    assert split_authors(name) == [name]
    graph = [{"@type": "NewsArticle", "headline": "A Brief", "author": [{"@type": "Person", "name": name}]}]
    assert meta(page(ld(graph)))[0]["authors"] == [name], "a structured author is one person"


def test_gaps_flag_missing_authors_and_date_always_and_tags_only_when_a_surface_had_tags():
    metadata, gaps = meta(page("", f"<main>{BODY}</main>"))
    assert gaps == ["missing_authors", "missing_date"], "a page with no tags at all is not a gap"
    metadata, gaps = meta(
        page("", f"<main>{BODY}</main>"), {"date_gmt": "2024-01-01T00:00:00", "tags": [540]}
    )
    assert metadata["tags"] == [] and gaps == ["missing_authors", "missing_tags"], (
        "REST had tags it could not name"
    )
    empty_tag = f'<article id="post-7"><a rel="tag" href="/tag/x/"> </a>{BODY}</article>'
    assert "missing_tags" in meta(page("", empty_tag))[1]
    full = {"authors": ["A B"], "published": "2024-01-01T00:00:00Z", "tags": ["Peru"]}
    assert metadata_gaps(full, {"tags": ["rest"]}) == []


def test_the_clean_stage_reports_the_gaps_once_each():
    record = clean_page(page("", f"<main><h1>A Brief</h1>{BODY}</main>"), URL, PROFILE, "en")
    assert record["metadata"]["authors"] == []
    assert record["quality"].count("missing_authors") == 1 and record["quality"].count("missing_date") == 1
    rest = {"date_gmt": "2024-01-01T00:00:00", "authors": ["Jane Doe"]}
    record = clean_page(page("", f"<main><h1>A Brief</h1>{BODY}</main>"), URL, PROFILE, "en", rest)
    assert not {"missing_authors", "missing_date", "missing_tags"} & set(record["quality"])
