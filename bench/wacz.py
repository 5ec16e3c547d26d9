"""What packaging a run as a WACZ costs next to crawling it; prints one JSON line.

    uv run python bench/wacz.py --posts 400

A reconcile of a simulated site (politeness off) is crawled, cleaned and committed into a real SeaweedFS on
127.0.0.1; then ``package_run`` builds and stores that snapshot's WACZ (download, digest checks, CDXJ, pages,
datapackage, upload). Target: the WACZ build is a small fraction of the crawl (``wacz_over_crawl`` < 0.25).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.seaweedfs import SeaweedFS, free_port_block  # noqa: E402
from infra.simulator import Simulator, Site  # noqa: E402
from pipelines import layout  # noqa: E402
from pipelines.replay import package_run  # noqa: E402
from pipelines.run import stage_clean, stage_commit, stage_crawl  # noqa: E402
from pipelines.settings import Settings  # noqa: E402
from pipelines.storage import Bucket  # noqa: E402
from spiders.runner import CrawlJob  # noqa: E402
from spiders.sites import load_profile  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=400)
    args = parser.parse_args()
    logger = logging.getLogger("bench")
    with tempfile.TemporaryDirectory() as tmp, Simulator(Site(posts=args.posts)) as sim:
        server = SeaweedFS(Path(tmp) / "weed", s3_port=free_port_block() + 3).start()
        try:
            bucket = Bucket(Settings.from_env(server.env("bench"), local_stack=False).storage)
            bucket.ensure_bucket()
            work = Path(tmp) / "run"
            job = CrawlJob(out=work / "crawl", site=sim.base, polite=False, mode="reconcile")
            started = time.perf_counter()
            crawl = stage_crawl(bucket, "bench", job, logger)
            crawl_s = time.perf_counter() - started
            profile = load_profile(job.profile, job.site)
            stage_clean(bucket, "bench", work, profile)
            seq = stage_commit(bucket, "bench", work, {"mode": "reconcile"}, profile).seq
            started = time.perf_counter()
            key = package_run(bucket, seq, Path(tmp))
            wacz_s = time.perf_counter() - started
            started = time.perf_counter()
            package_run(bucket, seq, Path(tmp))
            again_s = time.perf_counter() - started
            warc_bytes = sum(o["size"] for o in bucket.list(layout.warc_key("bench", "")) if o["key"] != key)
            print(
                json.dumps(
                    {
                        "bench": "wacz",
                        "posts": args.posts,
                        "pages": crawl["fetch"].get("fetched", 0),
                        "warc_bytes": warc_bytes,
                        "wacz_bytes": bucket.head(key)["size"],
                        "crawl_s": round(crawl_s, 2),
                        "wacz_s": round(wacz_s, 2),
                        "wacz_over_crawl": round(wacz_s / crawl_s, 3),
                        "repackage_s": round(again_s, 2),
                        "cpus": os.cpu_count(),
                    }
                )
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
