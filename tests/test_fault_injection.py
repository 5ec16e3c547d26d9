"""Crashes and storms: kill -9 at random points of every stage, and a hostile site. Nothing partial is ever
visible, reruns converge to the undisturbed snapshot, no version is lost or duplicated, delays are obeyed."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.simulator import RateLimit
from pipelines.archive import Archive
from pipelines.commit import read_head
from pipelines.run import run_once
from spiders.runner import CrawlJob

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
AFTER, BEFORE = "2026-11-10T00:00:00+00:00", "2026-11-16T00:00:00+00:00"
KILLS_PER_STAGE = 20


def comparable(index: dict) -> dict:
    """An index without what depends on when and how a run was captured (packs name the WARC files)."""
    return {k: {f: v for f, v in row.items() if f not in ("pack", "pack_line")} for k, row in index.items()}


def stage(name: str, run_id: str, workdir: Path, site: str, env: dict) -> subprocess.Popen:
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
        AFTER,
        "--before",
        BEFORE,
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


def assert_consistent(bucket) -> None:
    """Every visible snapshot is whole: its index and every version it references exist."""
    for ref in Archive(bucket).snapshot_refs():
        manifest = Archive(bucket).manifest(ref.seq)
        for row in bucket.get_jsonl_gz(manifest["index"]["key"]):
            assert bucket.exists(row["key"]), row["key"]


def test_kill_9_anywhere_then_rerun_converges(sim, seaweed, tmp_path):
    from pipelines.storage import Bucket, StorageConfig

    buckets = iter(range(10**6))

    def fresh() -> tuple[Bucket, dict]:
        env = {**os.environ, **seaweed.env(f"kill-{next(buckets)}")}
        bucket = Bucket(StorageConfig.from_env(env, stack_env=None))
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
    for target in stages:
        for attempt in range(KILLS_PER_STAGE):
            bucket, env = fresh()
            work = tmp_path / f"{target}-{attempt}"
            copy_staging(
                reference, bucket, upto=target
            )  # what the earlier tasks of the run left in the bucket
            proc = stage(target, "the-day", work, sim.base, env)
            time.sleep(rng.uniform(0, durations[target]))
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            assert_consistent(bucket)
            for name in stages[stages.index(target) :]:  # Airflow retries the killed task, then the rest
                assert stage(name, "the-day", work, sim.base, env).wait() == 0, f"{target} #{attempt}: {name}"
            assert [r.seq for r in Archive(bucket).snapshot_refs()] == [1], f"{target} #{attempt}"
            assert comparable(Archive(bucket).index()) == expected, f"{target} #{attempt} diverged"
            keys = {o["key"] for o in bucket.list("articles/")}
            assert keys == {row["key"] for row in Archive(bucket).index().values()}, (
                "a version lost or duplicated"
            )


def copy_staging(source, target, upto: str) -> None:
    """Server-side copies of the staging that the stages before `upto` produced."""
    wanted = {
        "crawl": (),
        "clean": ("runs/the-day/crawl/", "warc/the-day/"),
        "commit": ("runs/the-day/crawl/", "warc/the-day/", "runs/the-day/cleaned"),
    }[upto]
    for prefix in wanted:
        for obj in source.list(prefix):
            target.client.copy_object(
                Bucket=target.config.bucket,
                Key=target.key(obj["key"]),
                CopySource={"Bucket": source.config.bucket, "Key": source.key(obj["key"])},
            )


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
