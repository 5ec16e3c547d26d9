"""Crashes and storms: kill -9 at random points of every stage and of gc, and a hostile site. Nothing partial is
ever visible, reruns converge to the undisturbed snapshot, no version is lost or duplicated, gc removes every
leftover and nothing else, delays are obeyed."""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from infra.simulator import RateLimit
from pipelines.archive import Archive
from pipelines.commit import read_head
from pipelines.documents import IndexEntry
from pipelines.gc import apply, collect
from pipelines.run import run_once
from pipelines.verify import Report, verify
from spiders.runner import CrawlJob
from spiders.sites import load_profile

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
AFTER, BEFORE = "2026-11-10T00:00:00+00:00", "2026-11-16T00:00:00+00:00"
KILLS_PER_STAGE = 20


# What legitimately differs between a re-crawl and the reference: version keys and digests are content-addressed
# and a version's provenance holds its fetch time; packs are named by their content.
CAPTURE_FIELDS = ("key", "sha256", "observed_at", "pack", "pack_line")


def comparable(index: dict[str, IndexEntry]) -> dict[str, dict]:
    """An index without what depends on when and how a run was captured."""
    return {
        k: {f: v for f, v in msgspec.structs.asdict(row).items() if f not in CAPTURE_FIELDS}
        for k, row in index.items()
    }


def stage(
    name: str, run_id: str, workdir: Path, site: str, env: dict, after: str = AFTER, before: str = BEFORE
) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "pipelines.cli",
        "stage",
        name,
        "--run-id",
        run_id,
        "--workdir",
        str(workdir),
        "--site",
        site,
        "--mode",
        "window",
        "--after",
        after,
        "--before",
        before,
        "--no-polite",
    ]
    return subprocess.Popen(
        command,
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def assert_consistent(bucket, where: str = "") -> Report:
    """Every visible snapshot is whole: its manifest, index, packs, versions and WARC files exist and verify."""
    report = verify(bucket, full=True)
    assert report.ok, f"{where}: {report.summary()} {report.problems[:5]}"
    return report


def collect_garbage(bucket) -> None:
    """What `briefs gc --apply --grace 0` does: remove every unreferenced object (leftovers of killed tasks)."""
    deleted = list(apply(bucket, collect(bucket, grace=timedelta(0)), grace=timedelta(0)))
    assert all(not key.startswith("snapshots/") for key in deleted)


@pytest.mark.timeout(2400)  # 60 kills, each followed by the rest of the run: minutes, not seconds
def test_kill_9_anywhere_then_rerun_converges(sim, seaweed, tmp_path):
    from pipelines.settings import Settings
    from pipelines.storage import Bucket

    buckets = iter(range(10**6))

    def fresh() -> tuple[Bucket, dict]:
        env = {**os.environ, **seaweed.env(f"kill-{next(buckets)}")}
        bucket = Bucket(Settings.from_env(env, local_stack=False).storage)
        bucket.ensure_bucket()
        return bucket, env

    reference, env = fresh()
    durations = {}
    for name in ("crawl", "clean", "commit"):
        started = time.perf_counter()
        assert stage(name, "the-day", tmp_path / "ref", sim.base, env).wait() == 0
        durations[name] = time.perf_counter() - started
    expected = comparable(Archive(reference).index())
    assert expected
    rng = random.Random(20261127)
    stages = ("crawl", "clean", "commit")
    bucket, env = fresh()
    for target in stages:
        for attempt in range(KILLS_PER_STAGE):
            emptied(bucket)
            work = tmp_path / f"{target}-{attempt}"
            copy_staging(
                reference, bucket, upto=target
            )  # what the earlier tasks of the run left in the bucket
            proc = stage(target, "the-day", work, sim.base, env)
            time.sleep(rng.uniform(0, durations[target]))
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            where = f"{target} #{attempt}"
            assert_consistent(bucket, f"{where}, killed")
            for name in stages[stages.index(target) :]:  # Airflow retries the killed task, then the rest
                assert stage(name, "the-day", work, sim.base, env).wait() == 0, f"{where}: {name}"
            assert Archive(bucket).seqs() == [1], where
            assert comparable(Archive(bucket).index()) == expected, f"{where} diverged"
            assert_consistent(bucket, f"{where}, converged")
            # A killed commit may leave orphans: gc must remove them all, and only them.
            collect_garbage(bucket)
            keys = {o["key"] for o in bucket.list("articles/")}
            assert keys == {row.key for row in Archive(bucket).index().values()}, (
                f"{where}: a version lost or duplicated"
            )
            assert assert_consistent(bucket, f"{where}, collected").orphaned == 0, where


def copy_staging(source, target, upto: str) -> None:
    """Server-side copies of the staging that the stages before `upto` produced."""
    wanted = {
        "crawl": (),
        "clean": ("runs/the-day/crawl/", "warc/the-day/"),
        "commit": ("runs/the-day/crawl/", "warc/the-day/", "runs/the-day/cleaned"),
    }[upto]
    copy_objects(source, target, wanted)


def emptied(bucket) -> None:
    """A bucket emptied for the next attempt: a SeaweedFS bucket takes a volume of its own, and a server has
    only so many (free disk / volume size), so the attempts share one bucket rather than take one each."""
    keys = [obj["key"] for obj in bucket.list("")]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(bucket.delete, keys))
    assert not list(bucket.list("")), "the bucket is empty before the attempt"


def copy_objects(source, target, prefixes: tuple[str, ...]) -> int:
    """Server-side copies of every object under `prefixes` (the copies are new objects: their age starts now)."""

    def copy(key: str) -> None:
        target.client.copy_object(
            Bucket=target.config.bucket,
            Key=target.key(key),
            CopySource={"Bucket": source.config.bucket, "Key": source.key(key)},
        )

    keys = [obj["key"] for prefix in prefixes for obj in source.list(prefix)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(copy, keys))
    return len(keys)


def test_a_storm_changes_nothing_but_the_wait(sim, bucket, seaweed, tmp_path):
    from dataclasses import replace

    from pipelines.storage import Bucket

    job = dict(
        mode="window",
        site=sim.base,
        after=AFTER,
        before=BEFORE,
        polite=False,
        settings={"RETRY_TIMES": 12, "RETRY_BACKOFF_BASE": 0.05},
    )
    calm = Bucket(replace(bucket.config, bucket=bucket.config.bucket + "-calm"))
    calm.ensure_bucket()
    run_once(calm, "calm", CrawlJob(out=tmp_path, **job), tmp_path / "calm", logging.getLogger("calm"))
    sim.storm(
        seed=3, unavailable=0.3, slow=0.05, reset=0.05, burst=RateLimit(burst=12, window=1.0, retry_after=1)
    )
    started = len(sim.hits())
    summary = run_once(
        bucket, "storm", CrawlJob(out=tmp_path, **job), tmp_path / "storm", logging.getLogger("storm")
    )
    hits = sim.hits()[started:]
    assert sum(h.status == 503 for h in hits) > 5 and any(h.status == 429 for h in hits), "the storm happened"
    assert summary["crawl"].get("failed", 0) == 0
    assert comparable(Archive(bucket).index()) == comparable(Archive(calm).index()), (
        "same snapshot as in calm"
    )
    for hit in (h for h in hits if h.status in (429, 503)):
        retry = next((h for h in hits if h.at > hit.at and h.target == hit.target), None)
        assert retry is not None and retry.at - hit.at >= 1 - 0.05, f"{hit.target} retried too early"
    assert read_head(bucket).seq == 1


GC_KILLS = 20
ORPHANS = 100


def gc_process(env: dict, capture: bool = False) -> subprocess.Popen:
    """`briefs gc --apply --grace 0` in its own process group, as an operator (or a cron job) runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "gc", "--apply", "--grace", "0"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def run_gc(env: dict, where: str) -> dict:
    proc = gc_process(env, capture=True)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"{where}: gc failed: {stderr[-2000:]}"
    return json.loads(stdout)


def test_kill_9_during_gc_then_rerun_removes_every_orphan_and_nothing_else(sim, seaweed, tmp_path):
    """An archive with leftovers of every kind; gc killed at 20 random points, then run again to completion:
    every snapshot still verifies, every article reads, nothing unreferenced is left, and the bucket ends
    exactly as an undisturbed gc leaves it."""
    from pipelines import run as stages
    from pipelines.commit import commit_run
    from pipelines.settings import Settings
    from pipelines.storage import Bucket

    buckets = iter(range(10**6))

    def fresh() -> tuple[Bucket, dict]:
        env = {**os.environ, **seaweed.env(f"gc-kill-{next(buckets)}")}
        bucket = Bucket(Settings.from_env(env, local_stack=False).storage)
        bucket.ensure_bucket()
        return bucket, env

    template, _ = fresh()
    window = {"after": "2026-11-12T00:00:00+00:00", "before": "2026-11-14T00:00:00+00:00"}

    def crawl_and_clean(run_id: str) -> list[dict]:
        work = tmp_path / run_id
        job = CrawlJob(
            out=work / "crawl", mode="window", site=sim.base, include_modified=True, polite=False, **window
        )
        stages.stage_crawl(template, run_id, job)
        stages.stage_clean(template, run_id, work, load_profile("insightcrime", sim.base), workers=2)
        with gzip.open(work / "cleaned.jsonl.gz", "rt") as handle:
            return [json.loads(line) for line in handle]

    def crash_at(prefix: str, after: int = 0):
        """A commit that dies before its `after`-th write under `prefix` (as kill -9 would stop it)."""
        seen = iter(range(10**6))

        def hook(key: str) -> None:
            if key.startswith(prefix) and next(seen) == after:
                raise RuntimeError(f"killed before writing {key}")

        return hook

    def crashed_commit(run_id: str, records: list[dict], hook) -> None:
        with pytest.raises(RuntimeError, match="killed before writing"):
            commit_run(template, run_id, records, {"mode": "window"}, before_write=hook)

    # Snapshot 1, after three commits of other runs died at different points (versions, index, manifest).
    first = crawl_and_clean("day-1")
    assert sum(r["status"] == "fetched" for r in first) >= 3, "the window has a few briefs"
    crashed_commit("lost-a", first, crash_at("articles/", after=2))
    crashed_commit("lost-b", first, crash_at("indexes/"))
    crashed_commit("lost-c", first, crash_at("snapshots/"))
    site = load_profile("insightcrime", sim.base)
    assert stages.stage_commit(template, "day-1", tmp_path / "day-1", {"mode": "window"}, site).seq == 1
    # Snapshot 2: two briefs of the window edited (second versions); one more commit dies before its manifest.
    bounds = [datetime.fromisoformat(window[k]) for k in ("after", "before")]
    edited = sorted(sim.site.published_between(*bounds, lang="en"))[:2]
    with sim.site.lock:
        for post_id in edited:
            sim.site.posts[post_id].revision += 1
            sim.site.posts[post_id].modified = sim.site.now
    second = crawl_and_clean("day-2")
    crashed_commit("lost-d", second, crash_at("snapshots/"))
    committed = stages.stage_commit(template, "day-2", tmp_path / "day-2", {"mode": "window"}, site)
    assert committed.seq == 2 and sorted(committed.manifest.changes.changed) == [str(i) for i in edited]
    # A third run crawled and cleaned but never committed (its staging and WARC files are abandoned), and a
    # store probe its commit left behind.
    crawl_and_clean("day-3")
    template.put("probes/0123456789abcdef", b"probe")
    with ThreadPoolExecutor(16) as pool:  # and enough orphans that deleting them takes a while
        list(
            pool.map(
                lambda n: template.put(f"articles/{900000 + n}/v00001-{n:016x}.json.gz", b"x"), range(ORPHANS)
            )
        )
    dry = collect(template, grace=timedelta(0))
    reasons = {c.why for c in dry.candidates}
    assert {
        "unreferenced (a crashed or lost commit)",
        "receipt of a lost commit attempt",
        "WARC of a run that never committed",
        "staging of a run that never committed",
        "staging of a committed run",
        "leftover store probe",
    } <= reasons, reasons
    assert assert_consistent(template, "template").orphaned > 0
    everything = ("",)

    def snapshot_of(bucket) -> dict:
        """What a reader sees: every snapshot's manifest, index and versions, each read verified."""
        archive = Archive(bucket)
        seen = {}
        for seq in archive.seqs():
            seen[("manifest", seq)] = msgspec.structs.asdict(archive.manifest(seq))
            for entry in archive.index(seq).values():
                seen[(seq, entry.article_id)] = msgspec.structs.asdict(archive.version(entry))
        for entry in archive.index().values():
            assert len(archive.history(entry.article_id)) == entry.version
        return seen

    # The undisturbed gc: how long it takes, and what it leaves.
    expected_view = snapshot_of(template)
    undisturbed, env = fresh()
    copied = copy_objects(template, undisturbed, everything)
    clock = time.perf_counter()
    summary = run_gc(env, "undisturbed")
    duration = time.perf_counter() - clock
    assert summary["deleted"] == summary["candidates"] == len(dry.candidates) > 0, summary
    expected_keys = {o["key"] for o in undisturbed.list("")}
    assert len(expected_keys) == copied - summary["deleted"]
    assert assert_consistent(undisturbed, "undisturbed").orphaned == 0
    assert snapshot_of(undisturbed) == expected_view

    rng = random.Random(20261128)
    bucket = undisturbed
    for attempt in range(GC_KILLS):
        where = f"gc kill #{attempt}"
        emptied(bucket)
        assert copy_objects(template, bucket, everything) == copied
        proc = gc_process(env)
        time.sleep(rng.uniform(0, duration))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert_consistent(bucket, f"{where}, killed")  # a half-done gc never damages a snapshot
        collect_garbage(bucket)  # run again, to completion
        assert assert_consistent(bucket, f"{where}, rerun").orphaned == 0, where
        assert {o["key"] for o in bucket.list("")} == expected_keys, f"{where}: not what gc alone leaves"
        assert snapshot_of(bucket) == expected_view, f"{where}: an article no longer reads the same"
