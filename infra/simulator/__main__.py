"""``python -m infra.simulator serve --posts 500 --port 8765 [--site generic] [--wordpress vanilla]``: serve the
simulated site in the foreground (``--history-days``, ``--state`` and ``--daily-changes``: see ``clock.py``)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .clock import Clock, Journal, current_hour
from .server import Simulator
from .site import DEFAULT_NOW, SPECS


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
        "--history-days",
        type=int,
        default=0,
        help="start the clock this many days before --now: days of news to replay (POST /__sim__/advance)",
    )
    serve.add_argument(
        "--state",
        type=Path,
        default=None,
        help="journal of the clock (JSON): a restart replays it and serves the same site",
    )
    serve.add_argument(
        "--daily-changes",
        action="store_true",
        help="once the history is replayed, the clock follows real time hour by hour, and every 24 h of it "
        "5 briefs are published, 2 edited, 1 renamed and 1 removed",
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
    if args.history_days < 0:
        parser.error("--history-days must be 0 or more")
    started = time.perf_counter()
    real = args.now == "auto" or (args.now is None and args.history_days > 0)
    now = current_hour() if real else DEFAULT_NOW
    if args.now not in (None, "auto"):
        now = datetime.fromisoformat(args.now).astimezone(UTC)
    identity = {"posts": args.posts, "seed": args.seed, "site": args.site}
    try:
        journal = Journal.open(args.state, now, args.history_days, identity)
    except ValueError as exc:
        parser.error(str(exc))
    site = journal.build(posts=args.posts, seed=args.seed, spec=SPECS[args.site])
    # A clock that reads real time follows it; a fixed one moves at its pace from where it was set.
    clock = Clock(site, journal, offset=timedelta(0) if real else now - current_hour())
    sim = Simulator(site, port=args.port, wordpress=args.wordpress, clock=clock).start()
    if args.daily_changes:
        clock.follow()
    elapsed = time.perf_counter() - started
    state = clock.state()
    history = "" if state["replayed"] else f"; {args.history_days} days to replay up to {state['present']}"
    print(
        f"simulator: {site.spec.name}, {len(site.posts)} posts, {args.wordpress} WordPress at {sim.base}/, "
        f"clock {state['now']}{history} (ready in {elapsed:.2f}s); Ctrl-C stops it",
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
