"""Clean-stage throughput against bare trafilatura on the same pages; prints one JSON line.

    uv run python bench/clean.py --pages 1000

The pages are crawled from the simulator into WARC first (not timed). Then, timed: the clean stage (reading WARC,
site rules, trafilatura, metadata, markdown; every core), bare ``trafilatura.extract`` on one core, and on every
core. ``ratio`` = clean pages/s / bare pages/s on every core; target >= 0.8.
"""

from __future__ import annotations

import argparse
import json
import os
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
        stats = clean_run(
            out / "records.jsonl",
            out / "warc",
            Path(tmp) / "cleaned.jsonl.gz",
            load_profile("insightcrime", sim.base),
            workers,
        )
        clean_s = time.perf_counter() - started
        started = time.perf_counter()
        for page in pages:
            bare(page)
        bare_1_s = time.perf_counter() - started
        started = time.perf_counter()
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(bare, pages, chunksize=16))
        bare_n_s = time.perf_counter() - started
    n = len(pages)
    print(
        json.dumps(
            {
                "bench": "clean",
                "pages": n,
                "cleaned": stats.cleaned,
                "failed": stats.failed,
                "workers": workers,
                "clean_pages_per_s": round(n / clean_s, 1),
                "bare_1core_pages_per_s": round(n / bare_1_s, 1),
                "bare_allcores_pages_per_s": round(n / bare_n_s, 1),
                "ratio": round(bare_n_s / clean_s, 3),
                "quality": dict(stats.quality),
            }
        )
    )


if __name__ == "__main__":
    main()
