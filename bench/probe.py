"""Probe a fresh simulator (``briefs probe``) and print one JSON line: how many requests a probe costs, how long.

    uv run python bench/probe.py --posts 500 [--wordpress vanilla] [--polite]

The probe must stay cheap whatever the site's size (first pages only): its request count should not grow with
``--posts``. The simulator runs in this process (threads); the crawl in its own, as always.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.simulator import Simulator, Site  # noqa: E402
from pipelines.probe import run_probe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=500)
    parser.add_argument("--wordpress", choices=("multilingual", "vanilla"), default="multilingual")
    parser.add_argument("--polite", action="store_true", help="the production politeness (delays, throttle)")
    args = parser.parse_args()
    with Simulator(Site(posts=args.posts), wordpress=args.wordpress) as sim:
        started = time.perf_counter()
        report = run_probe("insightcrime", sim.base, polite=args.polite)
        elapsed = time.perf_counter() - started
        hits = len(sim.hits())
    print(
        json.dumps(
            {
                "bench": "probe",
                "posts": args.posts,
                "wordpress": args.wordpress,
                "polite": args.polite,
                "probe_requests": report.requests,
                "server_hits": hits,
                "probe_s": round(elapsed, 2),
                "verdict": report.verdict,
                "not_ok": [
                    f"{c.check}/{c.edition or 'all'}: {c.status}" for c in report.checks if c.status != "ok"
                ],
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
