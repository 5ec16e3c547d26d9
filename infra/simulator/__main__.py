"""``python -m infra.simulator serve --posts 500 --port 8765 [--site generic] [--wordpress vanilla]``: serve the
simulated site in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from datetime import UTC, datetime

from .server import Simulator
from .site import SPECS, Site


def _tick(site: Site) -> None:
    while True:
        time.sleep(24 * 3600)
        site.advance(hours=24, new=5, edited=2, renamed=1, removed=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.simulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the simulated site on 127.0.0.1")
    serve.add_argument("--posts", type=int, default=500, help="number of briefs (10 to 20,000)")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument(
        "--now",
        default=None,
        help="the site's clock: an ISO datetime, or 'auto' for the current hour (default 2026-11-20)",
    )
    serve.add_argument(
        "--daily-changes",
        action="store_true",
        help="every 24 h of real time publish 5 briefs, edit 2, rename 1 and remove 1",
    )
    serve.add_argument(
        "--site",
        choices=sorted(SPECS),
        default="insightcrime",
        help="which site to simulate (default insightcrime)",
    )
    serve.add_argument(
        "--wordpress",
        choices=("multilingual", "vanilla"),
        default="multilingual",
        help="one Polylang-like install (default) or vanilla WordPress with a separate install per extra language",
    )
    args = parser.parse_args(argv)
    if not 10 <= args.posts <= 20_000:
        parser.error("--posts must be between 10 and 20,000")
    started = time.perf_counter()
    site_args = {}
    if args.now == "auto":
        site_args["now"] = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    elif args.now:
        site_args["now"] = datetime.fromisoformat(args.now).astimezone(UTC)
    site = Site(posts=args.posts, seed=args.seed, spec=SPECS[args.site], **site_args)
    sim = Simulator(site, port=args.port, wordpress=args.wordpress).start()
    if args.daily_changes:
        threading.Thread(target=_tick, args=(sim.site,), daemon=True).start()
    elapsed = time.perf_counter() - started
    print(
        f"simulator: {site.spec.name}, {len(site.posts)} posts, {args.wordpress} WordPress at {sim.base}/ "
        f"(ready in {elapsed:.2f}s); Ctrl-C stops it",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
