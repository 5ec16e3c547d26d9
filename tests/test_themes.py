"""Extraction across themes: the seed brief cleans to the same text in every theme, with no chrome left.

The simulator renders one article in three WordPress themes (``infra/simulator/themes.py``), each with stock
plugin markup (Jetpack, author box, Yoast table of contents, pull quote) and body quirks (an inline comment, a
processing instruction, SEE ALSO lines as div/span). No server is needed: pages are rendered and cleaned in-process.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import trafilatura
from lxml import html as lxml_html
from trafilatura.xml import xmltotxt

from infra.simulator import GENERIC_NEWS, Site, pages, themes
from pipelines.clean import clean_page
from spiders.sites import load_profile

SEED = Path(__file__).resolve().parent.parent / "infra/simulator/data"
BASE = "https://insightcrime.org"
PLUGIN_CHROME = (
    "Share this:",
    "Like this:",
    "Loading...",
    "Table of contents",
    "About the author",
    "Related",
)
SITE_CHROME = (
    "DONATE",
    "What are your thoughts?",
    "Latest News",
    "Related Content",
    "BRIEF",
    "share",
    "TAGS",
)
FIRST = (
    "The Shining Path guerrillas in Peru have broken months of calm with a series of attacks against military"
)


@pytest.fixture(scope="module")
def site() -> Site:
    return Site(posts=20)


def expected_body() -> str:
    text = (SEED / "seed-expected-body.txt").read_text()
    return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n") if p.strip())


def clean(page: str, site: Site, post=None) -> dict:
    post = post or site.seed_post
    return clean_page(page.encode(), BASE + post.path, load_profile("insightcrime", BASE), post.lang)


def chrome_lines(text: str, title: str) -> list[str]:
    """Lines of the cleaned text that are chrome: a plugin or site label, the title, a byline."""
    lines = text.split("\n\n")
    return [
        line
        for line in lines
        if any(line.strip().lower() == c.lower() or line.startswith(c) for c in PLUGIN_CHROME + SITE_CHROME)
        or line == title
        or line.startswith(("By ", "by "))
    ]


@pytest.mark.parametrize("theme", themes.THEMES)
def test_seed_brief_cleans_exactly_in_every_theme(site, theme):
    post = site.seed_post
    page = pages.article_page(site, post, BASE, theme=theme)
    assert ("application/ld+json" in page) == (theme == "newspack")  # three different markups, really
    if theme == "plain":
        assert not re.search(r"<(article|main|header|time|nav|section|footer)\b", page)
    for plugin in ('class="sharedaddy', "Like this:", 'id="jp-relatedposts"', "About the author"):
        assert plugin in page, plugin
    for quirk in (
        "<!-- wp:comment -->",
        "<?php",
        "wp-block-yoast-seo-table-of-contents",
        "wp-block-pullquote",
    ):
        assert quirk in page, quirk
    record = clean(page, site)
    assert record["text"] == expected_body()
    assert chrome_lines(record["text"], post.title) == []
    assert record["quality"] == []
    assert re.search(r"SEE ALSO: \[Shining Path Profile\]\(https://insightcrime\.org/", record["markdown"])
    expected = json.loads((SEED / "seed-expected-metadata.json").read_text())
    meta = record["metadata"]
    assert meta["title"] == expected["title"]
    assert meta["authors"] == expected["authors"]  # a list of people, from JSON-LD, the byline or <meta>
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["published"] or "")
    assert meta["published"].startswith(expected["published"])


def test_theme_is_the_specs_unless_overridden():
    generic = Site(posts=20, spec=GENERIC_NEWS)
    post = generic.live("en")[-1]
    page = pages.article_page(generic, post, BASE)
    assert (
        'class="td-post-author-name"' in page
        and "Harbour Gazette" in page
        and "InSight Crime</title>" not in page
    )
    assert "<article" not in pages.article_page(generic, post, BASE, theme="plain")
    with pytest.raises(ValueError):
        pages.article_page(generic, post, BASE, theme="nope")


def test_generic_site_chrome_is_its_profiles_words():
    """Harbour Gazette's chrome uses exactly its profile's phrases, and its profile strips all of it."""
    generic = Site(posts=30, spec=GENERIC_NEWS)
    profile = load_profile("harbourgazette", "https://harbourgazette.example")
    post = generic.live("en")[-1]
    page = pages.article_page(generic, post, profile.base_url)
    for phrase in (*profile.clean.section_headings, *profile.clean.block_openings):
        assert phrase in page, phrase
    record = clean_page(page, profile.base_url + post.path, profile, "en")
    paragraphs = re.findall(r'<p class="wp-block-paragraph">(.*?)</p>', post.body_html(), re.S)
    text = " ".join(record["text"].split())
    for para in paragraphs:
        assert " ".join(re.sub(r"<[^>]+>", "", para).split()) in text
    assert record["quality"] == []
    for chrome in ("More from the Harbour", "Most Read", "Support local journalism", "SUBSCRIBE", "tweet"):
        assert chrome not in record["text"], chrome
    assert chrome_lines(record["text"], post.title) == []
    assert record["metadata"]["authors"] == post.authors and record["metadata"]["published"]


def test_inline_comment_and_processing_instruction_keep_the_paragraph(site):
    page = pages.article_page(site, site.seed_post, BASE)
    paragraph = re.search(r"<p[^>]*>([^<]*<!-- wp:comment -->.*?)</p>", page, re.S)
    assert paragraph, "the seed body carries an inline comment"
    # The failure this guards against: parsed naively, trafilatura keeps only the text before the comment.
    naive = trafilatura.bare_extraction(lxml_html.document_fromstring(page), with_metadata=False)
    naive_text = xmltotxt(naive.body, include_formatting=False)
    assert FIRST in naive_text and "the killing of key leaders" not in naive_text
    record = clean(page, site)
    first, second = record["text"].split("\n\n")[:2]
    assert first == expected_body().split("\n\n")[0]
    assert second.endswith("in the province of Cusco.")  # the paragraph with the processing instruction


def test_header_rule_removes_the_title_only(site):
    """A body h1 and h2 survive; the title and its meta line go, also when title and body share one div."""
    post = site.seed_post
    page = pages.article_page(site, post, BASE).replace(
        '<h3 class="wp-block-heading"',
        '<h2 class="wp-block-heading">Background</h2><h1 class="wp-block-heading"',
    )
    page = page.replace("</strong></h3>", "</strong></h1>")
    text = clean(page, site)["text"]
    assert "\n\nBackground\n\nInSight Crime Analysis\n\n" in text
    assert post.title not in text and not text.startswith("BRIEF")
    short = (
        "<html><head><title>Port Strike Ends After Two Weeks - InSight Crime</title></head><body><div id='wrap'>"
        "<div class='post'><h1>Port Strike Ends After Two Weeks</h1><div class='info'>By Ana Ruiz | 3 MAR 2014</div>"
        "<p>Dock workers returned to the cranes on Monday after the union accepted the new contract offer.</p>"
        "<h2>What changes</h2><p>The deal raises night-shift pay and adds two rest days a month for crews.</p>"
        "</div></div></body></html>"
    )
    record = clean_page(short, BASE + "/news/port-strike/", load_profile("insightcrime", BASE), "en")
    assert record["text"].split("\n\n") == [
        "Dock workers returned to the cranes on Monday after the union accepted the new contract offer.",
        "What changes",
        "The deal raises night-shift pay and adds two rest days a month for crews.",
    ]


@pytest.mark.parametrize("theme", ["tagdiv", "plain"])
def test_see_also_written_as_div_or_span_keeps_its_link(site, theme):
    page = pages.article_page(site, site.seed_post, BASE, theme=theme)
    tag = {"tagdiv": '<div class="td-see-also">', "plain": '<span class="crosslink-label">'}[theme]
    assert tag + "<em>SEE ALSO:" in page
    record = clean(page, site)
    assert "\n\nSEE ALSO: Shining Path Profile\n\n" in record["text"]
    assert (
        "\n\nSEE ALSO: [Shining Path Profile](https://insightcrime.org/peru-organized-crime-news/shining-path-profile/)"
        in record["markdown"]
    )


def test_pull_quote_goes_only_when_it_repeats_the_body(site):
    """Trafilatura drops a <figure> itself, not the pre-5.2 bare blockquote the tagdiv body carries."""
    page = pages.article_page(site, site.seed_post, BASE, theme="tagdiv")
    quote = re.search(r'<blockquote class="wp-block-pullquote"><p>(.*?)</p>', page).group(1)
    assert quote in expected_body()  # a duplicate: removed, so the body reads once
    assert clean(page, site)["text"].count(quote) == 1
    own = "Nobody in the valley expected the guerrillas to strike again so soon, one farmer told reporters."
    record = clean(page.replace(quote, own), site)
    assert own in record["text"]  # not a duplicate: it is content


def test_plugin_chrome_is_found_by_its_words_too(site):
    """A theme that re-skins the author box (no known class) still loses it by its label."""
    page = pages.article_page(site, site.seed_post, BASE, theme="plain")
    assert '<div class="bio"><div class="bio-title">About the author</div>' in page
    record = clean(page, site)
    assert "About the author" not in record["text"] and "More articles by" not in record["text"]
