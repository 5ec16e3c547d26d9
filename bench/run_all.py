"""Every figure of docs/performance.md in one run: a table on stderr, one JSON line on stdout, the JSON in a file.

    uv run python bench/run_all.py [--reps 3] [--sizes 500,5000,20000] [--out bench/results.json]

Real servers on 127.0.0.1 (SeaweedFS, the simulator in its own process), politeness off, medians of --reps.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.seaweedfs import SeaweedFS, free_port_block  # noqa: E402
from pipelines.archive import Archive  # noqa: E402
from pipelines.export import export_snapshot  # noqa: E402
from pipelines.run import run_once  # noqa: E402
from pipelines.settings import Settings  # noqa: E402
from pipelines.storage import Bucket  # noqa: E402
from spiders.runner import CrawlJob  # noqa: E402


def watch(command: list[str], env: dict) -> tuple[float, int, int, str]:
    """Run a command; (seconds, peak RSS of its largest process, peak RSS of its whole tree, stdout)."""
    started = time.perf_counter()
    proc = psutil.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    peaks = {"one": 0, "tree": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                rss = [p.memory_info().rss for p in [proc, *proc.children(recursive=True)]]
                peaks["one"], peaks["tree"] = max(peaks["one"], *rss), max(peaks["tree"], sum(rss))
            except psutil.Error:
                pass
            time.sleep(0.05)

    thread = threading.Thread(target=sample)
    thread.start()
    out, _ = proc.communicate()
    done.set()
    thread.join()
    if proc.returncode:
        raise RuntimeError(f"{command[3:5]} failed with {proc.returncode}")
    return time.perf_counter() - started, peaks["one"], peaks["tree"], out


class Rig:
    """SeaweedFS and a simulator process; fresh buckets on demand."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.s3 = SeaweedFS(tmp / "weed", s3_port=free_port_block() + 3).start()
        self.sim: subprocess.Popen | None = None
        self.counter = 0

    def site(self, posts: int) -> str:
        self.stop_site()
        port = free_port_block(size=1)
        self.sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infra.simulator",
                "serve",
                "--posts",
                str(posts),
                "--port",
                str(port),
                "--now",
                "auto",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.sim.stdout.readline()
        self.base = f"http://127.0.0.1:{port}"
        self.now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # the simulator's --now auto
        return self.base

    def advance(self, **changes: int) -> None:
        query = "&".join(f"{k}={v}" for k, v in {"hours": 24, **changes}.items())
        with urllib.request.urlopen(
            urllib.request.Request(f"{self.base}/__sim__/advance?{query}", method="POST")
        ) as r:
            self.now = datetime.fromisoformat(json.loads(r.read())["at"])

    def bucket(self) -> tuple[Bucket, dict]:
        self.counter += 1
        env = self.s3.env(f"bench-{self.counter}")
        bucket = Bucket(Settings.from_env(env, local_stack=False).storage)
        bucket.ensure_bucket()
        return bucket, env

    def stop_site(self) -> None:
        if self.sim:
            self.sim.terminate()
            self.sim.wait()

    def close(self) -> None:
        self.stop_site()
        self.s3.stop()


def backfill(rig: Rig, posts: int) -> tuple[dict, Bucket]:
    """crawl -> clean -> commit of every brief, each stage in its own process (as Airflow runs them)."""
    bucket, env = rig.bucket()
    env = {**os.environ, **env}
    work = rig.tmp / f"work-{rig.counter}"
    figures, pages = {}, 0
    for stage in ("crawl", "clean", "commit"):
        command = [
            sys.executable,
            "-m",
            "pipelines.cli",
            "stage",
            stage,
            "--run-id",
            f"backfill-{rig.counter}",
            "--workdir",
            str(work),
            "--site",
            rig.base,
            "--mode",
            "reconcile",
            "--no-polite",
        ]
        seconds, one, tree, out = watch(command, env)
        result = json.loads(out)
        if stage == "crawl":  # what a naive nightly, fetching everything again, would cost
            pages = result.get("fetched", pages)
            scrapy = json.loads((work / "crawl" / "stats.json").read_text())["scrapy"]
            full_crawl = {
                "requests": scrapy.get("downloader/request_count", 0),
                "response_bytes": scrapy.get("downloader/response_bytes", 0),
            }
        figures[stage] = {
            "s": round(seconds, 2),
            "peak_rss_mb": round(one / 2**20),
            "tree_rss_mb": round(tree / 2**20),
        }
    total = sum(f["s"] for f in figures.values())
    for stage in figures:
        figures[stage]["pages_per_s"] = round(pages / figures[stage]["s"], 1)
    return {
        "pages": pages,
        "s": round(total, 2),
        "pages_per_s": round(pages / total, 1),
        "stages": figures,
        "full_crawl": full_crawl,
    }, bucket


def nightly(rig: Rig, bucket: Bucket, mode: str = "window") -> dict:
    """One run as the DAG makes it for the last day (or a reconcile) against the archive in `bucket`."""
    job = CrawlJob(out=Path("."), mode=mode, site=rig.base, include_modified=True, polite=False)
    if mode == "window":
        job.after, job.before = (
            (rig.now - timedelta(hours=25)).isoformat(),
            (rig.now + timedelta(seconds=1)).isoformat(),
        )
    with tempfile.TemporaryDirectory(dir=rig.tmp) as work:
        started = time.perf_counter()
        summary = run_once(bucket, f"{mode}-{time.time_ns()}", job, Path(work))
        seconds = time.perf_counter() - started
    scrapy = summary["crawl_stats"]["scrapy"]
    fetch = summary["crawl_stats"]["fetch"]
    return {
        "s": round(seconds, 2),
        "requests": scrapy.get("downloader/request_count", 0),
        "response_bytes": scrapy.get("downloader/response_bytes", 0),
        "discovery_requests": sum(summary["crawl_stats"]["discovery_requests"].values())
        + scrapy.get("robotstxt/request_count", 0),
        "article_requests": sum(fetch.get(k, 0) for k in ("fetched", "redirected", "gone", "failed")),
        "not_modified_304": fetch.get("not_modified", 0),
        "versions_written": summary["versions_written"],
        "bytes_written": summary["bytes_written"],
        "counts": summary["counts"],
    }


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def scenarios(reps: int, sizes: list[int], tmp: Path) -> dict:
    rig, results = Rig(tmp), {"backfill": {}, "nightly": {}, "nightly_unchanged": {}, "reconcile": {}}
    try:
        for size in sizes:
            rig.site(size)
            runs = []
            for _ in range(reps if size == 5000 else 1):
                figures, bucket = backfill(rig, size)
                runs.append(figures)
            results["backfill"][size] = {
                **runs[0],
                "s": median([r["s"] for r in runs]),
                "pages_per_s": median([r["pages_per_s"] for r in runs]),
                "reps": len(runs),
            }
            nights = []
            for _ in range(reps):
                rig.advance(new=5, edited=2, renamed=1, removed=0)
                nights.append(nightly(rig, bucket))
            results["nightly"][size] = {
                **nights[-1],
                "s": median([n["s"] for n in nights]),
                "reps": len(nights),
                "versions_each": [n["versions_written"] for n in nights],
            }
            results["nightly_unchanged"][size] = nightly(rig, bucket)
            rig.advance(new=0, edited=0, renamed=0, removed=1)
            recon = nightly(rig, bucket, mode="reconcile")
            live = len([e for e in Archive(bucket).index().values()])
            results["reconcile"][size] = {**recon, "budget": math.ceil(live / 1000) + 3}
            if size == 5000:
                results["reads"] = reads(bucket, tmp, reps)
    finally:
        rig.close()
    return results


def reads(bucket: Bucket, tmp: Path, reps: int) -> dict:
    archive = Archive(bucket)
    seq = archive.resolve(None)
    index = archive.index(seq)
    ids = [e.article_id for e in list(index.values())[:: max(1, len(index) // 20)]][:20]
    cold = [timed(lambda i=i: Archive(bucket).article(i, at=seq)) for i in ids]
    history = [timed(lambda i=i: Archive(bucket).history(i)) for i in ids[:reps]]
    parquet = [
        timed(lambda: export_snapshot(Archive(bucket), seq, tmp / "a.parquet", "parquet"))
        for _ in range(reps)
    ]
    jsonl = [
        timed(lambda: export_snapshot(Archive(bucket), seq, tmp / "a.jsonl.gz", "jsonl")) for _ in range(reps)
    ]
    return {
        "article_cold_ms": round(median(cold) * 1000, 1),
        "history_ms": round(median(history) * 1000, 1),
        "export_parquet_s": median(parquet),
        "export_jsonl_s": median(jsonl),
        "articles": len(index),
    }


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_json(script: str, *args: object, stderr: bool = False) -> dict:
    """Run another bench script (its own process) and read the one JSON line it prints."""
    out = subprocess.run(
        [sys.executable, f"bench/{script}", *map(str, args)],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        stderr=None if stderr else subprocess.PIPE,
        text=True,
    )
    return json.loads(out.stdout)


def clean_ratio(reps: int) -> dict:
    """bench/clean.py: the clean stage against bare trafilatura, in interleaved rounds."""
    return bench_json("clean.py", "--pages", 1000, "--reps", reps)


def peers(reps: int) -> dict:
    """bench/peers.py: this project's crawl against plain Scrapy, Scrapy + warcio and raw asyncio."""
    return bench_json("peers.py", "--posts", 3000, "--reps", reps)


def integrity(reps: int, articles: int = 5000, full_articles: int = 20000) -> dict:
    """bench/integrity.py: commit + verify against the commit before the redesign (same run, same store),
    `verify --full` and cold reads of a `full_articles` archive, gc's dry run."""
    return bench_json(
        "integrity.py", "--articles", articles, "--full-articles", full_articles, "--reps", reps, stderr=True
    )


def probe() -> dict:
    """bench/probe.py: what `briefs probe` costs, on both WordPress variants and two site sizes."""
    return {
        f"{wordpress}-{posts}": bench_json("probe.py", "--posts", posts, "--wordpress", wordpress)
        for wordpress in ("multilingual", "vanilla")
        for posts in (500, 5000)
    }


def derived() -> dict:
    """The read interfaces' figures: a 7-edit night's bytes and cold reads at 5,000 and 20,000 articles
    (bench/store.py), publishing to Delta and reading it back vs `briefs export` (bench/delta.py), and the WACZ
    build against the crawl it packages (bench/wacz.py)."""
    return {
        "store": {str(n): bench_json("store.py", "--articles", n) for n in (5000, 20000)},
        "delta": bench_json("delta.py"),
        "wacz": bench_json("wacz.py", "--posts", 1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--sizes", default="500,5000,20000")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument(
        "--only",
        choices=["peers", "clean", "integrity", "probe", "derived"],
        help="Measure this section again and keep the others from --out (the page says which were re-run)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.time()
    if args.only:
        results = json.loads(args.out.read_text())
        section = {
            "peers": lambda: peers(args.reps),
            "clean": lambda: clean_ratio(args.reps),
            "integrity": lambda: integrity(args.reps),
            "probe": probe,
            "derived": derived,
        }[args.only]
        results["clean_overhead" if args.only == "clean" else args.only] = section()
        results.setdefault("rerun", {})[args.only] = time.strftime("%Y-%m-%d")
    else:
        results = {"peers": peers(args.reps)}
        with tempfile.TemporaryDirectory() as tmp:
            results |= scenarios(args.reps, sizes, Path(tmp))
        results["clean_overhead"] = clean_ratio(args.reps)
        results["integrity"] = integrity(args.reps)
        results["probe"] = probe()
        results["derived"] = derived()
    results["machine"] = {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "seconds": round(time.time() - started) + (results["machine"]["seconds"] if args.only else 0),
    }
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results))
    if args.out == ROOT / "bench" / "results.json":
        from report import main as write_docs

        write_docs()


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
