"""The archive's integrity promises, end to end against a real SeaweedFS (and a real S3 proxy in front of it).

Each scenario was a real bug before the storage/commit redesign:

1. an older run committed after a newer one reverted the newer one's edits;
2. a re-clean planned before a window run committed moved an edited article back in time;
3. a cleared and re-run commit task made a second snapshot (and reverted what came after its first one);
4. a retry only recognised its own commit within a horizon of recent snapshots (and cost more the older it was);
5. a crash between the receipt and the manifest, or right after the manifest, committed twice or not at all;
6. reprocessing a day (same run id, new crawl) was either always a no-op or always a new snapshot;
7. a store that ignores ``If-None-Match`` or answers a race with 409 (AWS) broke the commit point;
8. smaller ones: ``counts.gone`` vs ``counts.removed``, ``--at DATE`` read from S3 ``LastModified``, non-ASCII
   digits taken as snapshot numbers, half-written exports, manifests that did not list their WARC files.

No mocks: the crawls run the real spider against the simulator, and storage faults are injected with commit
hooks, botocore event handlers on a real client, or ``tests/s3proxy.py``.
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json
import re
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from s3proxy import S3Proxy
from typer.testing import CliRunner

from infra.simulator import Simulator, Site
from pipelines import storage
from pipelines.archive import Archive
from pipelines.cli import app
from pipelines.commit import CommitResult, commit_run, read_head, staged_warcs
from pipelines.documents import DamagedObject, Version
from pipelines.export import export_snapshot
from pipelines.run import stage_clean, stage_commit, stage_crawl, stage_reclean
from pipelines.settings import Settings
from pipelines.storage import Bucket, StorageError
from pipelines.verified import snapshot_seqs
from pipelines.verify import verify
from spiders.runner import CrawlJob
from spiders.sites import load_profile

WINDOW = {"mode": "window", "after": "2026-11-01", "before": "2026-11-08"}
RECONCILE = {"mode": "reconcile", "after": None, "before": None}
INFO = {"mode": "window"}
EDIT_MARK = "Update 1: this article was updated"
A, B = "run-a", "run-b"
_names = itertools.count()


class Injected(RuntimeError):
    pass


# ---- helpers ---------------------------------------------------------------------------------------------------
def new_bucket(seaweed, label: str) -> Bucket:
    bucket = Bucket(Settings.from_env(seaweed.env(bucket=f"ti-{label}-{next(_names)}")).storage)
    bucket.ensure_bucket(versioning=True)
    return bucket


def sibling(bucket: Bucket, suffix: str) -> Bucket:
    """Another fresh bucket on the same server and credentials."""
    other = Bucket(dataclasses.replace(bucket.config, bucket=f"{bucket.config.bucket}-{suffix}"))
    other.ensure_bucket(versioning=True)
    return other


def copy_objects(source: Bucket, target: Bucket, prefix: str = "") -> list[str]:
    """Server-side copies (CopyObject): same bytes, new S3 LastModified."""
    keys = [o["key"] for o in source.list(prefix)]
    for key in keys:
        target.client.copy_object(
            Bucket=target.config.bucket,
            Key=target.key(key),
            CopySource={"Bucket": source.config.bucket, "Key": source.key(key)},
        )
    return keys


def crawl(base: str, bucket: Bucket, workdir: Path, run_id: str, **job) -> dict:
    options = WINDOW | job
    crawl_job = CrawlJob(
        out=workdir / "crawl", site=base, polite=False, settings={"RETRY_BACKOFF_BASE": 0.05}, **options
    )
    return stage_crawl(bucket, run_id, crawl_job)


def process(base: str, bucket: Bucket, workdir: Path, run_id: str, **job) -> CommitResult:
    """crawl -> clean -> commit as three staged tasks (what the DAG runs)."""
    crawl(base, bucket, workdir, run_id, **job)
    site = load_profile("insightcrime", base)
    stage_clean(bucket, run_id, workdir, site)
    return stage_commit(bucket, run_id, workdir, {"mode": (WINDOW | job)["mode"]}, site)


def window_posts(site: Site, count: int) -> list[int]:
    """English briefs well inside the test window whose text the simulator generates (so an edit shows)."""
    low, high = datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 7, tzinfo=UTC)
    ids = sorted(p.id for p in site.live("en") if p.fixed_body is None and low <= p.published < high)
    assert len(ids) >= count, ids
    return ids[:count]


def edit(site: Site, ids) -> None:
    """Edit these posts as ``Site.advance`` edits random ones: one more revision (an appended "Update N"
    paragraph), modified at the (advanced) clock."""
    with site.lock:
        site.advance(hours=1, new=0, edited=0, renamed=0)
        for post_id in ids:
            post = site.posts[int(post_id)]
            post.revision += 1
            post.modified = site.now


def read_cleaned(workdir: Path) -> list[dict]:
    with gzip.open(workdir / "cleaned.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def fingerprints(records: list[dict]) -> dict[str, str]:
    return {str(r["post_id"]): r["fingerprint"] for r in records if r["status"] == "fetched"}


def empty_commits(bucket: Bucket, count: int, tag: str) -> None:
    """Cheap later snapshots: an empty commit of a fresh run id still makes one."""
    for n in range(count):
        assert commit_run(bucket, f"{tag}-{n}", [], {"mode": "filler"}).created


def assert_points_into_its_warc(bucket: Bucket, version: Version) -> None:
    """The version's provenance names a WARC object in the bucket whose record at the offset is that record."""
    source = version.provenance
    assert source.warc and source.warc_offset is not None, source
    assert bucket.exists(source.warc), source.warc
    member = zlib.decompressobj(wbits=31).decompress(bucket.get(source.warc)[source.warc_offset :])
    headers = member.split(b"\r\n\r\n", 1)[0].decode()
    assert f"WARC-Record-ID: {source.warc_record_id}" in headers, (source, headers)
    assert "WARC-Type: response" in headers


@dataclass
class Staged:
    """Two crawls of the same window against an empty archive, cleaned and staged in `source`: run A, then
    an edit of five briefs on the site, then run B. Tests copy the staging into their own bucket and commit in
    whatever order they test."""

    base: str
    source: Bucket
    work: dict[str, Path]
    records: dict[str, list[dict]]
    edited: list[str]

    def fingerprints(self, run_id: str) -> dict[str, str]:
        return fingerprints(self.records[run_id])

    def warc_dir(self, run_id: str) -> Path:
        return self.work[run_id] / "crawl" / "warc"

    def copy_to(self, bucket: Bucket) -> None:
        for run_id in self.work:
            copy_objects(self.source, bucket, f"runs/{run_id}/")
            copy_objects(self.source, bucket, f"warc/{run_id}/")

    def commit(self, bucket: Bucket, run_id: str, **kwargs) -> CommitResult:
        return stage_commit(
            bucket, run_id, self.work[run_id], INFO, load_profile("insightcrime", self.base), **kwargs
        )


@pytest.fixture(scope="module")
def staged(seaweed, tmp_path_factory) -> Staged:
    root = tmp_path_factory.mktemp("staged")
    source = new_bucket(seaweed, "staged")
    work = {A: root / A, B: root / B}
    with Simulator(Site(posts=300)) as sim:
        crawl(sim.base, source, work[A], A)
        edited = [str(i) for i in window_posts(sim.site, 5)]
        edit(sim.site, edited)
        crawl(sim.base, source, work[B], B)
        base = sim.base
    for run_id, workdir in work.items():
        stage_clean(source, run_id, workdir, load_profile("insightcrime", base))
    staged = Staged(base, source, work, {r: read_cleaned(w) for r, w in work.items()}, edited)
    old, new = staged.fingerprints(A), staged.fingerprints(B)
    assert set(edited) <= set(old) and set(old) == set(new), "both runs fetched the whole window"
    assert all(old[i] != new[i] for i in edited), "the edit changed the five briefs"
    assert all(old[i] == new[i] for i in set(old) - set(edited)), "and nothing else"
    return staged


def assert_edits_kept(bucket: Bucket, staged: Staged) -> None:
    """The five edited briefs read as edited, no version with the older text follows the edit, and
    `briefs diff` shows no edit being taken back."""
    archive = Archive(bucket)
    old, new = staged.fingerprints(A), staged.fingerprints(B)
    runner = CliRunner()
    for aid in staged.edited:
        current = archive.article(aid)
        assert current.fingerprint == new[aid] and EDIT_MARK in current.text, f"article {aid} lost its edit"
        prints = [v.fingerprint for v in archive.history(aid)]
        assert old[aid] not in prints[prints.index(new[aid]) :], f"article {aid}: the older text came back"
        diff = runner.invoke(app, ["diff", aid])
        assert diff.exit_code == 0, diff.output
        removed = [line for line in diff.output.splitlines() if line.startswith("-") and "Update" in line]
        assert not removed, f"briefs diff {aid} reverts the edit: {removed}"
    assert set(new) <= set(archive.index()), "every brief of the window is in the archive"


# ---- 1. causality: an older run never replaces a newer one's edits -------------------------------------------
@pytest.mark.parametrize("order", ["a-commits-last", "a-commits-first", "concurrent"])
def test_an_older_run_never_reverts_a_newer_runs_edits(staged, bucket, order):
    staged.copy_to(bucket)
    results: dict[str, CommitResult] = {}
    if order == "a-commits-last":
        results[B] = staged.commit(bucket, B)
        results[A] = staged.commit(bucket, A)
    elif order == "a-commits-first":
        results[A] = staged.commit(bucket, A)
        results[B] = staged.commit(bucket, B)
    else:
        barrier, waited, errors = threading.Barrier(2), set(), []

        def race(key: str) -> None:
            if key.startswith("snapshots/") and threading.get_ident() not in waited:
                waited.add(threading.get_ident())
                barrier.wait(timeout=60)  # both reach the commit point against the same (empty) head, once

        def commit(run_id: str) -> None:
            try:
                results[run_id] = staged.commit(Bucket(bucket.config), run_id, before_write=race)
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=commit, args=(run_id,)) for run_id in (A, B)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
    assert sorted(r.seq for r in results.values()) == [1, 2] and all(r.created for r in results.values())
    edited = sorted(staged.edited)
    if results[A].seq > results[B].seq:  # A's older observations met B's snapshot
        manifest = results[A].manifest
        assert sorted(manifest.changes.superseded) == edited and manifest.counts.superseded == 5
        assert (manifest.changes.new, manifest.changes.changed) == ([], [])
        assert results[A].versions_written == 0, "an older observation never becomes a version"
    else:  # B's edits are newer than A's snapshot: they become versions
        manifest = results[B].manifest
        assert sorted(manifest.changes.changed) == edited and manifest.counts.superseded == 0
        assert results[B].versions_written == 5
        assert all(len(Archive(bucket).history(aid)) == 2 for aid in edited)
    assert_edits_kept(bucket, staged)
    report = verify(bucket, full=True)
    assert report.ok, report.problems


# ---- 2. a re-clean overlapping a window run --------------------------------------------------------------------
def test_a_reclean_never_undoes_an_edit_committed_while_it_ran(staged, bucket, tmp_path):
    staged.copy_to(bucket)
    assert staged.commit(bucket, A).seq == 1
    reclean = tmp_path / "reclean"
    site = load_profile("insightcrime", staged.base)
    stage_reclean(bucket, "reclean", reclean, site)  # planned on snapshot 1
    live = [e for e in read_head(bucket).index.values() if e.status == "live"]
    assert len(read_cleaned(reclean)) == len(live), "every live article was re-extracted"

    window = staged.commit(bucket, B)  # meanwhile a window run commits the edits
    edited = sorted(staged.edited)
    assert window.seq == 2 and sorted(window.manifest.changes.changed) == edited
    before = Archive(bucket).index(2)

    result = stage_commit(bucket, "reclean", reclean, {"mode": "reclean"}, site)
    manifest = result.manifest
    assert result.created and result.seq == 3
    assert sorted(manifest.changes.superseded) == edited and manifest.counts.superseded == 5
    assert (manifest.changes.new, manifest.changes.changed, manifest.changes.removed) == ([], [], [])
    assert result.versions_written == 0, "the same extractor extracts the same text: no new version"
    assert manifest.counts.unchanged == len(live) - 5
    after = Archive(bucket).index(3)
    assert {a: e.key for a, e in after.items()} == {a: e.key for a, e in before.items()}
    assert_edits_kept(bucket, staged)


# ---- 3. a cleared commit task re-run after a newer snapshot ---------------------------------------------------
def test_a_rerun_commit_task_after_a_newer_snapshot_changes_nothing(staged, bucket, tmp_path):
    staged.copy_to(bucket)
    first = staged.commit(bucket, A)
    newer = staged.commit(bucket, B)
    assert (first.seq, newer.seq) == (1, 2) and sorted(newer.manifest.changes.changed) == sorted(
        staged.edited
    )
    # the same worker (its workdir still there), then another one that downloads the staged input
    for workdir in (staged.work[A], tmp_path / "another-worker"):
        again = stage_commit(bucket, A, workdir, INFO, load_profile("insightcrime", staged.base))
        assert again.created is False and again.seq == 1 and again.versions_written == 0
        assert again.manifest == first.manifest
    assert snapshot_seqs(bucket) == [1, 2], "no new snapshot"
    assert_edits_kept(bucket, staged)


# ---- 4. idempotency without a horizon --------------------------------------------------------------------------
def test_a_retry_finds_its_commit_however_many_snapshots_came_after(staged, bucket):
    records, warc_dir = staged.records[A], staged.warc_dir(A)
    first = commit_run(bucket, "old", records, INFO, warc_dir)
    assert first.created and first.seq == 1

    counted = Bucket(bucket.config)
    sent: list[tuple[str, str]] = []

    def count(request, **_) -> None:  # a real request about to go on the wire; returns None: it goes
        sent.append((request.method, request.url))

    counted.client.meta.events.register("before-send.s3", count)

    def retry() -> int:
        sent.clear()
        again = commit_run(counted, "old", records, INFO, warc_dir)
        assert again.created is False and again.seq == 1 and again.manifest == first.manifest
        return len(sent)

    empty_commits(bucket, 10, "later")
    after_10 = retry()
    empty_commits(bucket, 40, "much-later")
    after_50 = retry()
    assert snapshot_seqs(bucket) == list(range(1, 52)), "the retries made no 52nd snapshot"
    assert after_10 == after_50 <= 12, (
        f"requests per retry: {after_10} after 10 snapshots, {after_50} after 50"
    )


# ---- 5. a crash around the commit point ------------------------------------------------------------------------
def test_a_crash_before_or_after_the_manifest_write_commits_exactly_once(staged, bucket):
    records, warc_dir = staged.records[A], staged.warc_dir(A)

    def crash_before_manifest(key: str) -> None:
        if key.startswith("snapshots/"):
            raise Injected(f"crash before writing {key}")

    with pytest.raises(Injected):
        commit_run(bucket, "crashy", records, INFO, warc_dir, before_write=crash_before_manifest)
    assert snapshot_seqs(bucket) == [] and read_head(bucket).seq == 0, "nothing visible"
    assert list(bucket.list("commits/crashy/")), "the receipt was written before the crash"
    retried = commit_run(bucket, "crashy", records, INFO, warc_dir)
    assert retried.created and retried.seq == 1
    assert commit_run(bucket, "crashy", records, INFO, warc_dir).created is False
    assert snapshot_seqs(bucket) == [1], "committed exactly once"

    # The manifest PUT reaches the store, then the process dies before it learns so.
    dying, armed = Bucket(bucket.config), []

    def arm(key: str) -> None:
        if key.startswith("snapshots/"):
            armed.append(key)

    def die(**_) -> None:
        if armed:
            raise Injected(f"crash right after writing {armed[0]}")

    dying.client.meta.events.register("after-call.s3.PutObject", die)
    later, later_warcs = staged.records[B], staged.warc_dir(B)
    with pytest.raises(Injected):
        commit_run(dying, "crashy-after", later, INFO, later_warcs, before_write=arm)
    assert snapshot_seqs(bucket) == [1, 2], "the manifest write itself went through"
    again = commit_run(bucket, "crashy-after", later, INFO, later_warcs)
    assert again.created is False and again.seq == 2
    assert snapshot_seqs(bucket) == [1, 2]
    report = verify(bucket, full=True)
    assert report.ok, report.problems


# ---- 6. reprocessing a day: same run id, new crawl -------------------------------------------------------------
@pytest.mark.slow
def test_reprocessing_a_day_commits_what_changed_and_nothing_else(sim, bucket, tmp_path):
    run_id = "window-2026-11-01"
    attempts = (tmp_path / f"attempt-{n}" for n in itertools.count())  # each processing: a fresh worker
    first = process(sim.base, bucket, next(attempts), run_id)
    assert first.created and first.seq == 1 and first.manifest.counts.new > 5
    archive = Archive(bucket)
    recent, old = window_posts(sim.site, 2)

    unchanged = process(sim.base, bucket, next(attempts), run_id)
    assert unchanged.created is False and unchanged.seq == 1 and snapshot_seqs(bucket) == [1]

    edit(sim.site, [recent])
    changed = process(sim.base, bucket, next(attempts), run_id)
    assert changed.created and changed.seq == 2 and changed.manifest.changes.changed == [str(recent)]
    assert changed.versions_written == 1
    assert EDIT_MARK in archive.article(recent).text
    assert_points_into_its_warc(bucket, archive.article(recent))

    empty_commits(bucket, 50, "filler")  # the day is now 50 snapshots old
    unchanged = process(sim.base, bucket, next(attempts), run_id)
    assert unchanged.created is False and unchanged.seq == 2, "the run's latest snapshot"
    assert snapshot_seqs(bucket) == list(range(1, 53))

    edit(sim.site, [old])
    changed = process(sim.base, bucket, next(attempts), run_id)
    assert changed.created and changed.seq == 53 and changed.manifest.changes.changed == [str(old)]
    assert changed.versions_written == 1
    current = archive.article(old)
    assert EDIT_MARK in current.text and current.provenance.run_id == run_id
    assert_points_into_its_warc(bucket, current)
    assert [v.version for v in archive.history(recent)] == [1, 2], "the earlier change stays"
    report = verify(bucket, full=True)
    assert report.ok, report.problems


# ---- 7. stores that do not keep create-only promises, through a real proxy -------------------------------------
@pytest.fixture
def proxy(seaweed):
    with S3Proxy(seaweed.endpoint, secret_key=seaweed.secret_key) as running:
        yield running


def through(proxy: S3Proxy, bucket: Bucket) -> Bucket:
    return Bucket(dataclasses.replace(bucket.config, endpoint_url=proxy.endpoint))


def snapshot_puts(proxy: S3Proxy) -> list[tuple[int, str | None]]:
    return [(e.status, e.rule) for e in proxy.log if e.method == "PUT" and "/snapshots/" in e.key_path]


def test_a_store_that_ignores_create_only_writes_is_refused(staged, bucket, proxy):
    proxy.ignore_if_none_match = True
    via = through(proxy, bucket)
    assert (via.config.endpoint_url, via.config.bucket) not in storage._HONOURS_CREATE_ONLY
    for _ in range(2):  # and the refusal is not cached as a success
        with pytest.raises(StorageError, match=r"create-only|If-None-Match"):
            commit_run(via, "unsafe", staged.records[A], INFO, staged.warc_dir(A))
    assert proxy.hits >= 2
    assert (via.config.endpoint_url, via.config.bucket) not in storage._HONOURS_CREATE_ONLY
    assert snapshot_seqs(bucket) == [] and list(bucket.list("")) == [], "nothing written, probe removed"


def test_a_409_on_the_manifest_write_rereads_the_head_and_commits_once(staged, bucket, proxy):
    via = through(proxy, bucket)
    proxy.conflict("/snapshots/")  # answered by the proxy: the store never sees that PUT
    result = commit_run(via, "conflicted", staged.records[A], INFO, staged.warc_dir(A))
    assert result.created and result.seq == 1 and snapshot_seqs(bucket) == [1]
    assert snapshot_puts(proxy) == [(409, "conflict"), (200, None)]
    assert set(staged.fingerprints(A)) <= set(Archive(bucket).index())


def test_a_race_answered_with_409_rebases_and_loses_nothing(staged, bucket, proxy):
    records = [r for r in staged.records[A] if r["status"] == "fetched"]
    mine, theirs = records[: len(records) // 2], records[len(records) // 2 :]
    via = through(proxy, bucket)
    proxy.conflict("/snapshots/", forward=True)  # the store answers (412: taken), the client sees AWS's 409
    rival: list[CommitResult] = []

    def lose_the_race(key: str) -> None:
        if key.startswith("snapshots/") and not rival:  # another commit, straight to SeaweedFS, wins seq 1
            rival.append(commit_run(Bucket(bucket.config), "direct", theirs, INFO, staged.warc_dir(A)))

    result = commit_run(via, "proxied", mine, INFO, staged.warc_dir(A), before_write=lose_the_race)
    assert rival[0].seq == 1 and rival[0].created
    assert result.created and result.seq == 2, "rebased on the winner's snapshot"
    assert snapshot_seqs(bucket) == [1, 2]
    assert snapshot_puts(proxy) == [(409, "conflict+forward"), (200, None)]
    archive = Archive(bucket)
    assert [archive.manifest(s).run_id for s in (1, 2)] == ["direct", "proxied"]
    index = archive.index()
    assert {str(r["post_id"]) for r in records} <= set(index), "both runs' articles are there"
    assert sorted(result.manifest.changes.new) == sorted(str(r["post_id"]) for r in mine)


def test_a_409_that_hid_a_successful_manifest_write_is_not_committed_twice(staged, bucket, proxy):
    via = through(proxy, bucket)
    proxy.conflict("/snapshots/", forward=True)  # the write lands, the client is told 409
    result = commit_run(via, "hidden", staged.records[A], INFO, staged.warc_dir(A))
    assert result.seq == 1 and snapshot_seqs(bucket) == [1]
    assert snapshot_puts(proxy)[0] == (409, "conflict+forward")


# ---- 8. smaller regressions ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_counts_tell_the_archives_gone_from_this_runs_removals(sim, bucket, tmp_path):
    first = process(sim.base, bucket, tmp_path / "r1", "reconcile-1", **RECONCILE)
    counts = first.manifest.counts
    assert (counts.removed, counts.gone) == (0, 0) and counts.new == counts.articles > 250

    removed = sim.site.advance(hours=24, new=0, edited=0, renamed=0, removed=1).removed
    second = process(sim.base, bucket, tmp_path / "r2", "reconcile-2", **RECONCILE)
    counts = second.manifest.counts
    assert second.manifest.changes.removed == [str(removed[0])]
    assert (counts.removed, counts.gone) == (1, 1)

    removed += sim.site.advance(hours=24, new=0, edited=0, renamed=0, removed=1).removed
    third = process(sim.base, bucket, tmp_path / "r3", "reconcile-3", **RECONCILE)
    counts = third.manifest.counts
    assert third.manifest.changes.removed == [str(removed[1])]
    assert counts.removed == 1, "this run removed one"
    assert counts.gone == 2, "the archive holds two removed articles"
    index = Archive(bucket).index()
    assert counts.gone == sum(e.status == "gone" for e in index.values())
    assert counts.live == sum(e.status == "live" for e in index.values()) == counts.articles - 2
    assert {a for a, e in index.items() if e.status == "gone"} == {str(i) for i in removed}


def test_at_a_date_follows_the_manifests_not_the_objects_timestamps(staged, bucket):
    staged.copy_to(bucket)
    one = staged.commit(bucket, A)
    time.sleep(1.1)
    two = staged.commit(bucket, B)
    assert one.manifest.created_at < two.manifest.created_at
    time.sleep(1.1)
    moved = sibling(bucket, "moved")
    copy_objects(bucket, moved)
    key = "snapshots/00000001.json"
    assert moved.head(key)["last_modified"] > bucket.head(key)["last_modified"], "the copy has new timestamps"

    runner, env = CliRunner(), {"BRIEFS_S3_BUCKET": moved.config.bucket}
    aid = staged.edited[0]
    old, new = staged.fingerprints(A)[aid], staged.fingerprints(B)[aid]
    for at, expected in ((one.manifest.created_at, old), (two.manifest.created_at, new), (None, new)):
        args = ["article", aid, "--format", "json", *(["--at", at] if at else [])]
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["fingerprint"] == expected, f"--at {at}"
    before = runner.invoke(app, ["article", aid, "--at", "2000-01-01"], env=env)
    assert before.exit_code == 1 and "error:" in before.output and "Traceback" not in before.output


def test_non_ascii_digits_are_a_clear_error(staged, bucket):
    staged.copy_to(bucket)
    staged.commit(bucket, A)
    staged.commit(bucket, B)
    runner, aid = CliRunner(), staged.edited[0]
    for value in ("٣", "١"):  # ARABIC-INDIC THREE (no snapshot 3) and ONE (snapshot 1 exists)
        for args in (["article", aid, "--at", value], ["snapshot", value]):
            result = runner.invoke(app, args)
            assert result.exit_code == 1, (args, result.output)
            assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
            assert "error:" in result.output and value in result.output, result.output


def test_a_failed_export_leaves_no_file(staged, bucket, tmp_path):
    staged.copy_to(bucket)
    staged.commit(bucket, A)
    staged.commit(bucket, B)
    archive = Archive(bucket)
    good = tmp_path / "exports" / "good.parquet"
    rows = export_snapshot(archive, 2, good)
    assert pq.read_table(good).num_rows == rows == len(archive.index(2))

    packs = sorted({pack for seq in (1, 2) for pack in archive.manifest(seq).packs})
    assert len(packs) == 2
    damaged = packs[-1]  # the export reads packs in key order: this one last, after rows of the other
    bucket.put(damaged, bucket.get(damaged)[:-64], "application/gzip")

    target = tmp_path / "exports" / "briefs.parquet"
    with pytest.raises(DamagedObject, match=re.escape(damaged)):
        export_snapshot(archive, 2, target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["good.parquet"], "no file, no leftover part"

    result = CliRunner().invoke(app, ["export", str(target)])
    assert result.exit_code == 1 and "error:" in result.output and "Traceback" not in result.output
    assert damaged in "".join(result.output.split()), result.output
    with pytest.raises(DamagedObject):
        export_snapshot(archive, 2, good)  # over an earlier export: the earlier file stays whole
    assert sorted(p.name for p in target.parent.iterdir()) == ["good.parquet"]
    assert pq.read_table(good).num_rows == rows


def test_manifests_of_staged_runs_list_their_warc_files(staged, bucket):
    staged.copy_to(bucket)
    results = {run_id: staged.commit(bucket, run_id) for run_id in (A, B)}
    archive = Archive(bucket)
    for run_id, result in results.items():
        listed = result.manifest.warc
        assert listed, f"{run_id}: no WARC file listed"
        assert all(bucket.exists(key) for key in listed), listed
        assert set(staged_warcs(bucket, run_id)) <= set(listed)
    for entry in archive.index().values():
        version = archive.version(entry)
        manifest = results[version.provenance.run_id].manifest
        assert version.provenance.warc in manifest.warc, (entry.article_id, version.provenance)
        assert_points_into_its_warc(bucket, version)
    report = verify(bucket, full=True)
    assert report.ok, report.problems
