"""Crawl N simulated briefs into WARC with politeness off; print one JSON line of figures.

    uv run python bench/crawl.py --posts 5000

The simulator runs in its own process so that the crawler's figures are its own. Target on 2 cores:
pages_per_s >= 150 and crawler peak_rss_mb < 300.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spiders.runner import CrawlJob  # noqa: E402


def peak_rss(proc: psutil.Process, stop: threading.Event, result: dict) -> None:
    peak = 0
    while not stop.is_set():
        try:
            rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    result["peak"] = peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.simulator",
            "serve",
            "--posts",
            str(args.posts),
            "--port",
            str(args.port),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        sim.stdout.readline()  # "simulator: ... ready"
        with tempfile.TemporaryDirectory() as tmp:
            job = CrawlJob(
                out=Path(tmp),
                mode="reconcile",
                site=f"http://127.0.0.1:{args.port}",
                polite=False,
                settings={"LOG_LEVEL": "WARNING"},
            )
            env = dict(os.environ, SCRAPY_SETTINGS_MODULE="spiders.settings", PYTHONPATH=str(ROOT))
            started = time.perf_counter()
            crawler = psutil.Popen(job.command(), cwd=tmp, env=env, stdout=subprocess.DEVNULL)
            stop, result = threading.Event(), {}
            watcher = threading.Thread(target=peak_rss, args=(crawler, stop, result))
            watcher.start()
            code = crawler.wait()
            elapsed = time.perf_counter() - started
            stop.set()
            watcher.join()
            stats = json.loads((Path(tmp) / "stats.json").read_text())
            warc_bytes = sum(f.stat().st_size for f in (Path(tmp) / "warc").glob("*.warc.gz"))
            pages = stats["fetch"].get("fetched", 0) + stats["fetch"].get("redirected", 0)
            print(
                json.dumps(
                    {
                        "bench": "crawl",
                        "posts": args.posts,
                        "exit_code": code,
                        "pages": pages,
                        "responses": stats["warc_responses"],
                        "seconds": round(elapsed, 2),
                        "pages_per_s": round(pages / elapsed, 1),
                        "peak_rss_mb": round(result["peak"] / 2**20, 1),
                        "warc_bytes": warc_bytes,
                        "cpus": os.cpu_count(),
                    }
                )
            )
    finally:
        sim.terminate()
        sim.wait()


if __name__ == "__main__":
    main()
