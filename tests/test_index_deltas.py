"""The incremental index on a real bucket: a nightly run writes a delta of what it changed, reads apply the deltas,
compaction writes a new base, and a damaged or missing delta is refused by name."""

from __future__ import annotations

import gzip
import hashlib
from datetime import timedelta

import pytest
from observations import observed

from pipelines import commit as commit_module
from pipelines import gc, layout
from pipelines.archive import Archive
from pipelines.commit import commit_run
from pipelines.documents import DamagedObject
from pipelines.verified import read_index, read_manifest
from pipelines.verify import verify


def archive_of(bucket, articles: int = 100) -> Archive:
    records = [
        observed(i, f"text of {i}", "2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z")
        for i in range(1, articles + 1)
    ]
    commit_run(bucket, "base", records, {"mode": "reconcile"})
    return Archive(bucket)


def edit(bucket, run_id: str, ids: list[int], day: int):
    when = f"2026-11-{day:02d}T00:00:00Z"
    return commit_run(
        bucket, run_id, [observed(i, f"text of {i}, edited on day {day}", when, when) for i in ids], {}
    )


def test_a_nightly_run_writes_a_delta_of_what_it_changed(bucket):
    archive = archive_of(bucket)
    base = archive.manifest(1)
    assert base.index_deltas == [] and base.index_base.articles == 100

    second = edit(bucket, "night-2", [3, 7, 42], day=2)
    manifest = second.manifest
    assert manifest.index_base == base.index_base, "the base is kept"
    (delta,) = manifest.index_deltas
    assert delta.articles == 3, "the delta holds the changed entries only"
    assert second.bytes_written < 0.5 * len(bucket.get(base.index_base.key)) + 10_000

    index = read_index(bucket, manifest)
    assert len(index) == 100 == manifest.counts.articles
    assert {aid for aid, e in index.items() if e.version == 2} == {"3", "7", "42"}
    assert archive.article(42, at=1).text == "text of 42"
    assert archive.article(42, at=2).text == "text of 42, edited on day 2"
    assert archive.article(43, at=2).text == "text of 43"

    quiet = commit_run(bucket, "night-3", [], {})
    assert quiet.bytes_written == 0, "nothing changed: only the manifest (and the receipt) are written"
    assert quiet.manifest.index_deltas == manifest.index_deltas

    third = edit(bucket, "night-4", [42], day=4)
    assert [d.articles for d in third.manifest.index_deltas] == [3, 1]
    assert archive.article(42).text.endswith("day 4") and archive.article(7).text.endswith("day 2")
    assert verify(bucket, full=True).ok


def test_compaction_writes_a_new_base(bucket, monkeypatch):
    archive = archive_of(bucket)
    monkeypatch.setattr(commit_module, "MAX_INDEX_DELTAS", 2)
    edit(bucket, "n2", [1], day=2)
    edit(bucket, "n3", [2], day=3)
    compacted = edit(bucket, "n4", [3], day=4).manifest
    assert compacted.index_deltas == [] and compacted.index_base.articles == 100
    assert compacted.index_base != archive.manifest(1).index_base
    assert {a: e.version for a, e in archive.index(4).items() if e.version > 1} == {"1": 2, "2": 2, "3": 2}

    monkeypatch.setattr(commit_module, "MAX_INDEX_DELTAS", 32)
    large = edit(bucket, "n5", list(range(10, 25)), day=5).manifest  # 15 of 100 entries: above 10%
    assert large.index_deltas == [] and large.index_base != compacted.index_base
    assert archive.article(20).text.endswith("day 5") and archive.article(3).text.endswith("day 4")
    assert verify(bucket, full=True).ok


def test_a_damaged_or_missing_delta_is_refused_by_name(bucket):
    archive_of(bucket)
    edit(bucket, "n2", [5], day=2)
    (delta,) = read_manifest(bucket, 2).manifest.index_deltas
    good = bucket.get(delta.key)

    other = gzip.compress(gzip.decompress(good).replace(b'"Title 5"', b'"Title 9"'), mtime=0)
    assert other != good
    bucket.put(delta.key, other)
    with pytest.raises(DamagedObject, match=delta.key):
        Archive(bucket).index(2)
    report = verify(bucket, at=2)
    assert not report.ok and any(delta.key in p for p in report.problems)

    bucket.delete(delta.key)
    with pytest.raises(DamagedObject, match=f"{delta.key}: missing"):
        Archive(bucket).article(5)
    assert Archive(bucket).article(5, at=1).text == "text of 5", "older snapshots do not need the delta"

    bucket.put(delta.key, good)
    assert verify(bucket, full=True).ok


def test_gc_keeps_every_index_file_a_snapshot_names(bucket):
    archive_of(bucket)
    edit(bucket, "n2", [5], day=2)
    edit(bucket, "n3", [6], day=3)
    named = {r.key for s in (1, 2, 3) for r in read_manifest(bucket, s).manifest.index_files}
    assert len(named) == 3
    found = gc.collect(bucket, grace=timedelta(0))
    assert not {c.key for c in found.candidates} & named
    assert all(bucket.exists(key) for key in named)
    assert layout.index_key(read_manifest(bucket, 3).manifest.index_base.sha256) in named


def test_an_invalid_entry_under_a_valid_digest_is_reported_not_raised_by_verify(bucket):
    """A writer bug, not damage in transit: the files' digests hold, one entry is not a valid IndexEntry."""
    import json

    archive_of(bucket, articles=20)
    manifest = read_manifest(bucket, 1).manifest
    lines = gzip.decompress(bucket.get(manifest.index_base.key)).splitlines()
    bad = json.loads(lines[4]) | {"version": "two"}
    lines[4] = json.dumps(bad, sort_keys=True, separators=(",", ":")).encode()
    body = gzip.compress(b"".join(line + b"\n" for line in lines), mtime=0)
    sha = hashlib.sha256(body).hexdigest()
    bucket.put(layout.index_key(sha), body)
    document = json.loads(bucket.get(layout.snapshot_key(1)))
    document["index_base"].update(key=layout.index_key(sha), sha256=sha)
    bucket.put(layout.snapshot_key(1), json.dumps(document, sort_keys=True, separators=(",", ":")).encode())

    archive = Archive(bucket)
    assert archive.article(1).text == "text of 1", "the other entries still read"
    with pytest.raises(DamagedObject, match=rf"{layout.index_key(sha)} line 5: not a valid IndexEntry"):
        archive.article(bad["article_id"])
    report = verify(bucket, full=True)
    assert not report.ok and any("not a valid IndexEntry" in p for p in report.problems)
