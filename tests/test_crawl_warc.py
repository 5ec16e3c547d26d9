"""WARC capture: valid files (warcio check), one response record per response served, records that point at them."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

WARCIO = str(Path(sys.executable).parent / "warcio")


def _records(path: Path):
    with open(path, "rb") as handle:
        yield from ArchiveIterator(handle)


def test_warc_holds_every_response_served(sim, crawl):
    sim.inject(sim.site.ordered[-3], "status", 503, times=1)  # a retried response is captured too
    result = crawl(
        sim, mode="window", after="2026-11-01", before="2026-11-15", settings={"WARC_MAX_BYTES": 150_000}
    )
    files = result.warc_files
    assert len(files) >= 2, "files roll over at the size limit"
    assert not list((result.out / "warc").glob("*.open")), "no file left open"
    check = subprocess.run([WARCIO, "check", *map(str, files)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    kinds: dict[str, int] = {}
    uris = []
    for path in files:
        for record in _records(path):
            kinds[record.rec_type] = kinds.get(record.rec_type, 0) + 1
            if record.rec_type == "response":
                uris.append(record.rec_headers.get_header("WARC-Target-URI"))
    assert kinds["response"] == sim.served_responses() == kinds["request"]
    assert kinds["warcinfo"] == len(files)
    assert any(u.endswith("/robots.txt") for u in uris)
    assert any("/wp-json/wp/v2/posts" in u for u in uris), "discovery responses are archived as well"
    assert result.stats["warc_responses"] == kinds["response"]


def test_records_point_at_their_response(sim, crawl):
    result = crawl(sim, mode="window", after="2026-11-01", before="2026-11-08")
    for row in result.records:
        path = result.out / "warc" / row["warc_file"]
        with open(path, "rb") as handle:
            handle.seek(row["warc_offset"])
            record = next(iter(ArchiveIterator(handle)))
        assert record.rec_type == "response"
        assert record.rec_headers.get_header("WARC-Record-ID") == row["warc_record_id"]
        assert record.rec_headers.get_header("WARC-Target-URI") == row["url"]
        html = record.content_stream().read().decode()
        post = sim.site.posts[row["post_id"]]
        assert '<h1 class="entry-title">' in html and post.slug in html


def test_seed_page_is_fetched_and_archived(sim, crawl):
    seed = sim.site.seed_post
    result = crawl(sim, mode="window", after="2014-03-01", before="2014-03-05", editions="en")
    record = result.by_id()[seed.id]
    assert record["status"] == "fetched"
    assert record["url"] == sim.url(seed)
    assert record["published"] == "2014-03-03T14:00:00Z"
    assert record["title"] == "Wave of Shining Path Attacks Sparks Fears of New Offensive in Peru"
    with open(result.out / "warc" / record["warc_file"], "rb") as handle:
        handle.seek(record["warc_offset"])
        html = next(iter(ArchiveIterator(handle))).content_stream().read().decode()
    assert "Kepashiato military base" in html and "SEE ALSO" in html


def test_pages_built_from_real_rss_items_are_archived(sim, crawl):
    real = {p.id: p for p in sim.site.real_posts}
    after = min(p.published for p in real.values()).replace(hour=0, minute=0, second=0)
    before = datetime(2026, 9, 5, tzinfo=UTC)
    result = crawl(
        sim,
        mode="window",
        after=after.isoformat(),
        before=before.isoformat(),
        editions="en",
        categories="news,brief,mexico-organized-crime-news",
    )
    by_id = result.by_id()
    assert set(real) <= result.ids("fetched")
    for post_id, post in real.items():
        assert by_id[post_id]["title"] == post.title
        assert by_id[post_id]["url"] == sim.url(post)
