"""crawl -> clean -> commit -> read against a real SeaweedFS: versions, tombstones, snapshots, histories."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipelines.archive import Archive, NotFound
from pipelines.run import run_once
from spiders.runner import CrawlJob
from spiders.sites import load_profile


def archive_run(sim, bucket, tmp_path: Path, run_id: str, mode: str = "nightly", **kwargs) -> dict:
    job = CrawlJob(
        out=tmp_path, mode=mode, site=sim.base, polite=False, settings={"RETRY_BACKOFF_BASE": 0.05}, **kwargs
    )
    return run_once(bucket, run_id, job, tmp_path / run_id, logging.getLogger("test"))


def test_round_trip_and_point_in_time(sim, bucket, tmp_path):
    first = archive_run(sim, bucket, tmp_path, "r1", mode="reconcile")
    live = {p.id for p in sim.site.live()}
    assert first["snapshot"] == 1 and first["counts"]["new"] == len(live) == first["versions_written"]
    archive = Archive(bucket)
    seed = sim.site.seed_post
    doc = archive.article(seed.id)
    assert doc.metadata.title.startswith("Wave of Shining Path") and "VRAEM" in doc.text
    assert doc.provenance.warc.startswith("warc/r1/")
    assert archive.entry(sim.url(seed)).post_id == seed.id, "found by URL too"

    change = sim.site.advance(hours=24, new=5, edited=2, renamed=1, removed=1)
    second = archive_run(sim, bucket, tmp_path, "r2")
    counts = second["counts"]
    assert (counts["new"], counts["changed"], counts["aliased"], second["versions_written"]) == (5, 2, 1, 7)
    third = archive_run(sim, bucket, tmp_path, "r3", mode="reconcile")
    assert third["counts"]["removed"] == third["counts"]["gone"] == 1 and third["versions_written"] == 1
    fourth = archive_run(sim, bucket, tmp_path, "r4")
    assert fourth["versions_written"] == 0 and fourth["bytes_written"] == 0, (
        "nothing changed, nothing written"
    )
    assert archive.manifest(4).index_base.key == archive.manifest(3).index_base.key, "the index is reused"

    edited = change.edited[0]
    assert "Update 1:" not in archive.article(edited, at=1).text
    assert "Update 1:" in archive.article(edited).text
    assert [v.version for v in archive.history(edited)] == [1, 2]
    assert "+Update 1: this article was updated" in archive.diff(edited)
    removed = change.removed[0]
    assert archive.article(removed, at=2).status == "live"
    assert archive.article(removed).status == "gone"
    assert [v.status for v in archive.history(removed)] == ["live", "gone"]
    ((renamed, old_path),) = change.renamed.items()
    assert archive.entry(sim.base + old_path).post_id == renamed, "the old URL is an alias"
    assert len(archive.history(renamed)) == 1, "a rename with unchanged text is not a version"
    with pytest.raises(NotFound):
        archive.article(123)
    with pytest.raises(NotFound):
        archive.article(edited, at=99)


def test_recommitting_a_run_is_idempotent(sim, bucket, tmp_path):
    archive_run(sim, bucket, tmp_path, "once", mode="window", after="2026-11-01", before="2026-11-10")
    from pipelines.run import stage_commit

    again = stage_commit(
        bucket, "once", tmp_path / "once", {"mode": "window"}, load_profile("insightcrime", sim.base)
    )
    assert again.created is False and again.seq == 1 and again.versions_written == 0
    assert Archive(bucket).seqs() == [1]
