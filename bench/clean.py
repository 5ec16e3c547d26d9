"""Clean-stage throughput against bare trafilatura on the same pages; prints one JSON line.

    uv run python bench/clean.py --pages 1000 [--reps 3]

The pages are crawled from the simulator into WARC first (not timed). Then, timed: bare ``trafilatura.extract``
on one core, and --reps interleaved rounds of the clean stage (reading WARC, site rules, trafilatura, metadata,
markdown; every core) and bare ``trafilatura.extract`` on every core, so that a drift in the machine's speed
hits both alike. ``ratio`` = the median of each round's clean pages/s / bare pages/s on every core; target
>= 0.95.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import trafilatura  # noqa: E402

from infra.simulator import Simulator, Site  # noqa: E402
from pipelines.clean import clean_run, read_response  # noqa: E402
from spiders.runner import CrawlJob, run_crawl  # noqa: E402
from spiders.sites import load_profile  # noqa: E402


def bare(html: bytes) -> int:
    return len(trafilatura.extract(html) or "")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp, Simulator(Site(posts=args.pages)) as sim:
        out = Path(tmp) / "crawl"
        run_crawl(
            CrawlJob(
                out=out, mode="reconcile", site=sim.base, polite=False, settings={"LOG_LEVEL": "WARNING"}
            )
        )
        records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
        pages = [
            read_response(out / "warc" / r["warc_file"], r["warc_offset"])[0]
            for r in records
            if r["status"] == "fetched"
        ]
        started = time.perf_counter()
        for page in pages:
            bare(page)
        bare_1_s = time.perf_counter() - started
        rounds = []
        for _ in range(args.reps):
            started = time.perf_counter()
            stats = clean_run(
                out / "records.jsonl",
                out / "warc",
                Path(tmp) / "cleaned.jsonl.gz",
                load_profile("insightcrime", sim.base),
                workers,
            )
            clean_s = time.perf_counter() - started
            started = time.perf_counter()
            with ProcessPoolExecutor(workers) as pool:
                list(pool.map(bare, pages, chunksize=16))
            rounds.append((clean_s, time.perf_counter() - started))
    n = len(pages)
    print(
        json.dumps(
            {
                "bench": "clean",
                "pages": n,
                "cleaned": stats.cleaned,
                "failed": stats.failed,
                "workers": workers,
                "clean_pages_per_s": round(n / statistics.median(c for c, _ in rounds), 1),
                "bare_1core_pages_per_s": round(n / bare_1_s, 1),
                "bare_allcores_pages_per_s": round(n / statistics.median(b for _, b in rounds), 1),
                "ratio": round(statistics.median(b / c for c, b in rounds), 3),
                "ratios": [round(b / c, 3) for c, b in rounds],
                "quality": dict(stats.quality),
            }
        )
    )


if __name__ == "__main__":
    main()
