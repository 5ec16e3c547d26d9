"""Integrity benchmark against a real SeaweedFS on 127.0.0.1; prints one JSON line.

    uv run python bench/integrity.py [--articles 5000] [--full-articles 20000] [--baseline-rev 7941478] [--reps 3]

Measures the integrity issue's figures, all in one run on one machine and one SeaweedFS:

- commit with verification: ``commit_run`` of --articles cleaned records plus the cheap ``verify(bucket, at=seq)``
  the DAG runs after it, against the commit of --baseline-rev (the code before the redesign), run from a
  temporary ``git worktree`` of that revision in a child process (its own ``bench/store.py`` records and its own
  ``commit_run``). Old and new alternate, each into a fresh bucket, after one untimed warm-up commit each;
  medians of --reps. Target: (commit + verify) / baseline commit <= 1.2.
- ``verify(bucket, full=True)`` of a --full-articles archive of 3 snapshots (a backfill, then two runs that edit
  5% of the articles each, overlapping, and remove 1%), also through the CLI (``briefs verify --full``, a new
  process). Target: < 60 s, no damage.
- cold point-in-time reads of one article (a new ``Archive`` each; median of 20) on both archives (target:
  < 200 ms), and gc's dry run (``pipelines.gc.collect``) of the large one.

The machine's 1-minute load average at the start, after the comparison and at the end is in the output (this
benchmark alone adds about 2): compare runs only when it starts low. ``*_cpu_s`` is this process's CPU time
(all threads) during a verification: the client's share (requests, gunzip, digests), SeaweedFS excluded.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.store import records  # noqa: E402
from infra.seaweedfs import SeaweedFS, free_port_block  # noqa: E402
from pipelines import layout  # noqa: E402
from pipelines.archive import Archive  # noqa: E402
from pipelines.clean import fingerprint  # noqa: E402
from pipelines.commit import commit_run  # noqa: E402
from pipelines.documents import Version  # noqa: E402
from pipelines.gc import collect  # noqa: E402
from pipelines.settings import Settings  # noqa: E402
from pipelines.storage import Bucket  # noqa: E402
from pipelines.verify import verify  # noqa: E402

WARC_NAME = "bench.warc.gz"  # what bench/store.py's records cite (warc_file)
WARC_BODY = gzip.compress(b"WARC/1.1\r\n\r\n", mtime=0)
WARM_UP = 50  # records in each side's untimed first commit

# Runs in the baseline's worktree (cwd, PYTHONPATH): its own bench/store.py records() and commit_run. Reads one
# "bucket count" line per commit on stdin, answers one JSON line each.
BASELINE = """
import json, sys, time
sys.path.insert(0, "bench")
import pipelines
from store import records
from pipelines.commit import commit_run
from pipelines.storage import Bucket, StorageConfig

env, count = json.loads(sys.argv[1]), int(sys.argv[2])
rows = records(count)
print(json.dumps({"ready": len(rows), "pipelines": pipelines.__file__}), flush=True)
for line in sys.stdin:
    name, n = line.split()
    bucket = Bucket(StorageConfig.from_env({**env, "BRIEFS_S3_BUCKET": name}, stack_env=None))
    bucket.ensure_bucket()
    started = time.perf_counter()
    result = commit_run(bucket, "bench-1", rows[: int(n)], {"mode": "bench"})
    seconds = time.perf_counter() - started
    print(json.dumps({"s": seconds, "seq": result.seq, "versions": result.versions_written,
                      "objects": result.objects_written, "bytes": result.bytes_written}), flush=True)
"""


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def cpu_timed(fn):
    """(result, wall seconds, this process's CPU seconds, all threads)."""
    cpu = time.process_time()
    result, seconds = timed(fn)
    return result, seconds, time.process_time() - cpu


def load() -> float:
    return round(os.getloadavg()[0], 2)


class Baseline:
    """The commit of another revision, in a worktree of it and a child process (this venv's interpreter)."""

    def __init__(self, rev: str, tmp: Path, env: dict, count: int):
        self.tree = tmp / "baseline"
        git = ["git", "-C", str(ROOT)]
        self.git, self.log, self.proc = git, (tmp / "baseline.log").open("w"), None
        subprocess.run([*git, "worktree", "add", "--detach", "-q", str(self.tree), rev], check=True)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", BASELINE, json.dumps(env), str(count)],
                cwd=self.tree,
                env={**os.environ, "PYTHONPATH": str(self.tree)},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.log,
                text=True,
            )
            hello = self.answer()
            if not hello["pipelines"].startswith(str(self.tree)):
                raise RuntimeError(f"the baseline imported {hello['pipelines']}, not its worktree's code")
        except BaseException:
            self.close()
            raise
        self.records = hello["ready"]

    def answer(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.log.flush()
            tail = Path(self.log.name).read_text()[-2000:]
            raise RuntimeError(f"the baseline process failed:\n{tail}")
        return json.loads(line)

    def commit(self, bucket: str, count: int) -> dict:
        self.proc.stdin.write(f"{bucket} {count}\n")
        self.proc.stdin.flush()
        return self.answer()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        self.log.close()
        subprocess.run([*self.git, "worktree", "remove", "--force", str(self.tree)], check=False)
        subprocess.run([*self.git, "worktree", "prune"], check=False)


class Store:
    """SeaweedFS and fresh buckets."""

    def __init__(self, tmp: Path):
        self.server = SeaweedFS(tmp / "weed", s3_port=free_port_block() + 3).start()

    def env(self, name: str = "unused") -> dict:
        return self.server.env(name)

    def bucket(self, name: str) -> Bucket:
        bucket = Bucket(Settings.from_env(self.server.env(name), local_stack=False).storage)
        bucket.ensure_bucket()
        return bucket


def stage_warc(bucket: Bucket, run_id: str) -> None:
    """The crawl task uploads the run's WARC files before the commit; the records cite this one."""
    bucket.put(layout.warc_key(run_id, WARC_NAME), WARC_BODY, "application/gzip")


def new_commit(bucket: Bucket, rows: list[dict]) -> dict:
    """The commit as the DAG makes it: commit_run, then the cheap verify of the snapshot it made."""
    stage_warc(bucket, "bench-1")
    result, commit_s = timed(lambda: commit_run(bucket, "bench-1", rows, {"mode": "bench"}))
    report, verify_s, verify_cpu = cpu_timed(lambda: verify(bucket, at=result.seq))
    if not report.ok or result.manifest.counts.new != len(rows):
        raise RuntimeError(f"commit of {len(rows)} records: {report.summary()}, {report.problems[:3]}")
    return {
        "s": commit_s,
        "verify_s": verify_s,
        "verify_cpu_s": verify_cpu,
        "checked": report.checked,
        "versions": result.versions_written,
        "objects": result.objects_written,
        "bytes": result.bytes_written,
    }


def compare(store: Store, baseline: Baseline, rows: list[dict], reps: int) -> dict:
    """New commit + verify against the baseline's commit, alternating which goes first."""
    new_commit(store.bucket("warm-new"), rows[:WARM_UP])
    baseline.commit("warm-old", WARM_UP)
    new, old = [], []
    for rep in range(reps):
        for side in ("old", "new") if rep % 2 == 0 else ("new", "old"):
            if side == "new":
                new.append(new_commit(store.bucket(f"new-{rep}"), rows))
            else:
                old.append(baseline.commit(f"old-{rep}", len(rows)))
    sums = [n["s"] + n["verify_s"] for n in new]
    median_old = statistics.median(o["s"] for o in old)
    return {
        "commit_s": round(statistics.median(n["s"] for n in new), 2),
        "verify_s": round(statistics.median(n["verify_s"] for n in new), 2),
        "verify_cpu_s": round(statistics.median(n["verify_cpu_s"] for n in new), 2),
        "commit_verify_s": round(statistics.median(sums), 2),
        "baseline_commit_s": round(median_old, 2),
        "ratio": round(statistics.median(sums) / median_old, 2),
        "ratio_each": [round(s / o["s"], 2) for s, o in zip(sums, old, strict=True)],
        "commit_s_each": [round(n["s"], 2) for n in new],
        "verify_s_each": [round(n["verify_s"], 2) for n in new],
        "baseline_commit_s_each": [round(o["s"], 2) for o in old],
        "verify_checked": new[-1]["checked"],
        "commit_objects": new[-1]["objects"],
        "commit_bytes": new[-1]["bytes"],
        "baseline_commit_objects": old[-1]["objects"],
        "baseline_commit_bytes": old[-1]["bytes"],
        "baseline_records": baseline.records,
    }


def cold_reads(bucket: Bucket, at: int, count: int = 20) -> float:
    """Median ms of reading one article at snapshot `at` with a new reader each time (listing, manifest,
    index, version: every step verified)."""
    ids = random.Random(1).sample(sorted(Archive(bucket).index(at)), count)
    times = []
    for ident in ids:
        version, seconds = timed(lambda i=ident: Archive(bucket).article(i, at=at))
        if not isinstance(version, Version) or version.article_id != ident:
            raise RuntimeError(f"read of article {ident} at {at} returned {type(version).__name__}")
        times.append(seconds)
    return round(statistics.median(times) * 1000, 1)


def edited(row: dict, day: int) -> dict:
    """The article as a later run sees it after the site edited it (new text, later modified and fetch)."""
    text = row["text"] + f"\n\nUpdate {day}: this brief was revised on 2026-11-{day:02d}."
    meta = {**row["metadata"], "modified": f"2026-11-{day:02d}T05:00:00+00:00"}
    return {
        **row,
        "text": text,
        "markdown": text,
        "metadata": meta,
        "fingerprint": fingerprint(text, meta["title"], meta["authors"], meta["published"]),
        "fetched_at": f"2026-11-{day:02d}T06:00:00Z",
    }


def removed(row: dict, day: int) -> dict:
    return {
        "post_id": row["post_id"],
        "edition": row["edition"],
        "url": row["url"],
        "status": "gone",
        "http_status": 404,
        "fetched_at": f"2026-11-{day:02d}T06:00:00Z",
    }


def build_archive(bucket: Bucket, rows: list[dict]) -> dict:
    """A backfill, then two runs: the first edits 5% of the articles; the second edits another 5%, edits again a
    quarter of the first run's (three versions) and removes 1% (tombstones)."""
    runs = [
        ("full-1", rows),
        ("full-2", [edited(r, 21) for r in rows[::20]]),
        (
            "full-3",
            [edited(r, 22) for r in rows[1::20]]
            + [edited(edited(r, 21), 22) for r in rows[::80]]
            + [removed(r, 22) for r in rows[2::100]],
        ),
    ]
    versions = 0
    for run_id, batch in runs:
        stage_warc(bucket, run_id)
        result = commit_run(bucket, run_id, batch, {"mode": "bench"})
        counts = result.manifest.counts
        if result.versions_written != len(batch) or counts.superseded:
            raise RuntimeError(f"{run_id}: {len(batch)} records made {result.versions_written} versions")
        versions += result.versions_written
    return {"snapshots": result.seq, "versions": versions, "live": counts.live, "gone": counts.gone}


def full_verify_cli(env: dict, attempts: int = 5) -> tuple[float, int]:
    """`briefs verify --full` in a new process, as an operator runs it: (wall seconds, startup included; how many
    attempts died of SIGSEGV first). Such a crash is counted in the output, not hidden: it is a bug (a fresh
    process's first msgspec decoders are built by several threads at once)."""
    crashes = 0
    for _ in range(attempts):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "verify", "--full"],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        if done.returncode == -signal.SIGSEGV:
            crashes += 1
            continue
        if done.returncode:
            raise RuntimeError(f"briefs verify --full exited {done.returncode}: {done.stderr[-2000:]}")
        return round(seconds, 2), crashes
    raise RuntimeError(f"briefs verify --full crashed (SIGSEGV) {crashes} times in a row")


def large(store: Store, count: int, reps: int) -> dict:
    rows, build_s = timed(lambda: records(count))
    bucket = store.bucket("full")
    shape, commit_s = timed(lambda: build_archive(bucket, rows))
    runs = [cpu_timed(lambda: verify(bucket, full=True)) for _ in range(reps)]
    report = runs[-1][0]
    cli_s, segfaults = full_verify_cli(store.env("full"))
    collection, gc_s = timed(lambda: collect(bucket))
    return {
        "full_articles": len(rows),
        **{f"full_{k}": v for k, v in shape.items()},
        "full_records_s": round(build_s, 2),
        "full_commits_s": round(commit_s, 2),
        "verify_full_s": round(statistics.median(s for _, s, _ in runs), 2),
        "verify_full_s_each": [round(s, 2) for _, s, _ in runs],
        "verify_full_cpu_s": round(statistics.median(c for _, _, c in runs), 2),
        "verify_full_checked": report.checked,
        "verify_full_missing": report.missing,
        "verify_full_mismatched": report.mismatched,
        "verify_full_orphaned": report.orphaned,
        "verify_full_problems": report.problems[:3],
        "verify_full_cli_s": cli_s,
        "verify_full_cli_segfaults": segfaults,
        "gc_dry_run_s": round(gc_s, 2),
        "gc_candidates": len(collection.candidates),
        "gc_kept_young": collection.kept_young,
        "full_read_cold_ms": cold_reads(bucket, at=1),
        "full_read_cold_latest_ms": cold_reads(bucket, at=shape["snapshots"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--full-articles", type=int, default=20000)
    parser.add_argument("--baseline-rev", default="7941478")
    parser.add_argument("--reps", type=int, default=3, help="commits of each side (medians)")
    parser.add_argument("--full-reps", type=int, default=1, help="full verifications (median)")
    args = parser.parse_args()
    figures: dict = {"bench": "integrity", "articles": args.articles, "loadavg_start": load()}
    rows = records(args.articles)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        baseline = None
        try:
            baseline = Baseline(args.baseline_rev, Path(tmp), store.env(), args.articles)
            figures |= {"baseline_rev": args.baseline_rev, "reps": args.reps}
            figures |= compare(store, baseline, rows, args.reps)
            baseline.close()
            baseline = None
            figures["loadavg_compared"] = load()
            figures["read_cold_ms"] = cold_reads(store.bucket(f"new-{args.reps - 1}"), at=1)
            figures |= large(store, args.full_articles, args.full_reps)
        finally:
            if baseline is not None:
                baseline.close()
            store.server.stop()
    figures["loadavg_end"] = load()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
