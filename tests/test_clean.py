"""Clean stage: the seed page cleans to exactly its expected text and metadata; real pages keep every paragraph."""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.simulator import pages
from pipelines.clean import UnreadablePage, clean_page, clean_run
from pipelines.cli import app
from spiders.sites import SiteProfile, load_profile

SEED = Path(__file__).resolve().parent.parent / "infra/simulator/data"


def site_of(sim) -> SiteProfile:
    """The InSight Crime profile, served by the simulator."""
    return load_profile("insightcrime", sim.base)


def normalise(text: str) -> str:
    return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n") if p.strip())


def page_of(sim, post) -> str:
    return pages.article_page(sim.site, post, sim.base, sim.trap_url)


def test_seed_page_cleans_to_the_expected_body_and_metadata(sim):
    post = sim.site.seed_post
    record = clean_page(page_of(sim, post).encode(), sim.url(post), site_of(sim), "en")
    assert normalise(record["text"]) == normalise((SEED / "seed-expected-body.txt").read_text())
    expected = json.loads((SEED / "seed-expected-metadata.json").read_text())
    meta = record["metadata"]
    assert meta["canonical_url"] == sim.url(post)
    assert expected["url"].endswith(post.path)
    for field in ("title", "authors", "language", "section", "tags"):
        assert meta[field] == expected[field], field
    assert meta["published"].startswith(expected["published"])  # the metadata holds the full UTC timestamp
    assert record["quality"] == []
    assert (
        "[Shining Path Profile](" + sim.base + "/peru-organized-crime-news/shining-path-profile/)"
        in record["markdown"]
    )


@pytest.mark.parametrize("index", range(4))
def test_real_feed_items_keep_every_paragraph_and_no_chrome(sim, index):
    post = sim.site.real_posts[index]
    record = clean_page(page_of(sim, post).encode(), sim.url(post), site_of(sim), "en")
    paragraphs = re.findall(r'<p class="wp-block-paragraph">(.*?)</p>', post.fixed_body, re.S)
    assert paragraphs
    text = " ".join(record["text"].split())
    for para in paragraphs:
        plain = " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", para)).split())
        assert plain in text, plain[:80]
    for chrome in (
        "Was this content helpful?",
        "DONATE",
        "What are your thoughts?",
        "We encourage readers",
        "Related Content",
        "Latest News",
        "About InSight Crime",
        "appeared first on",
        "share icon",
    ):
        assert chrome not in record["text"], chrome
    assert "boilerplate_leak" not in record["quality"]
    assert record["metadata"]["authors"] == post.authors


def test_feed_footer_and_see_also_links(sim):
    post = sim.site.real_posts[2]
    footer = f'<p>The post <a href="{sim.url(post)}">{post.title}</a> appeared first on <a href="x">InSight Crime</a>.</p>'
    page = page_of(sim, post).replace(
        '</div>\n<div class="sharedaddy', footer + '</div>\n<div class="sharedaddy', 1
    )
    record = clean_page(page, sim.url(post), site_of(sim), "en")
    assert "appeared first on" not in record["text"]
    assert "SEE ALSO:" in record["text"]
    assert re.search(r"SEE ALSO:.*\]\(https://insightcrime\.org/news/", record["markdown"])


def test_spanish_brief_and_translations(sim):
    post = next(p for p in sim.site.live("es") if p.translation)
    record = clean_page(page_of(sim, post), sim.url(post), site_of(sim), "es")
    assert record["metadata"]["language"] == "es"
    assert record["metadata"]["translations"] == {"en": sim.url(sim.site.posts[post.translation])}
    assert (
        "¿Este contenido te fue útil?" not in record["text"] and "Contenido relacionado" not in record["text"]
    )
    assert "language_mismatch" not in record["quality"]


def test_quality_flags(sim):
    post = sim.site.live("en")[-1]
    emptied = re.sub(
        r'<div class="entry-content">.*?</div>\n<div class="sharedaddy',
        '<div class="sharedaddy',
        page_of(sim, post),
        flags=re.S,
    )
    assert "empty_body" in clean_page(emptied, sim.url(post), site_of(sim), "en")["quality"]
    assert "language_mismatch" in clean_page(page_of(sim, post), sim.url(post), site_of(sim), "es")["quality"]
    cp1252 = page_of(sim, post).replace("Crime", "Crimé").encode("cp1252", "replace")
    assert (
        "charset_fallback"
        in clean_page(cp1252, sim.url(post), site_of(sim), "en", declared_charset="utf-8")["quality"]
    )
    with pytest.raises(UnreadablePage):
        clean_page(b"", sim.url(post), site_of(sim))
    with pytest.raises(UnreadablePage):
        clean_page(b"%PDF-1.4\x00\x00binary", sim.url(post), site_of(sim))


def test_clean_html_command(sim, tmp_path):
    page = tmp_path / "page.html"
    page.write_text(page_of(sim, sim.site.seed_post))
    result = CliRunner().invoke(app, ["clean-html", str(page), "--url", sim.url(sim.site.seed_post)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metadata"]["title"].startswith("Wave of Shining Path")
    broken = tmp_path / "empty.html"
    broken.write_bytes(b"")
    result = CliRunner().invoke(app, ["clean-html", str(broken)])
    assert result.exit_code == 1
    assert "error: empty page" in result.output and "Traceback" not in result.output


def test_clean_stage_streams_a_crawl(sim, crawl, tmp_path):
    result = crawl(sim, mode="window", after="2026-11-01", before="2026-11-12")
    out = tmp_path / "cleaned.jsonl.gz"
    stats = clean_run(result.out / "records.jsonl", result.out / "warc", out, site_of(sim), workers=2)
    assert stats.cleaned == len(result.ids("fetched")) and stats.failed == 0
    assert stats.quality.get("boilerplate_leak", 0) == 0
