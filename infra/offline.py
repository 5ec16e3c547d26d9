"""The offline plumbing, in one place: the simulated site that stands in for the live one.

- For the local stack (``python -m infra.stack up --offline``): the simulator's command (its clock starts
  ``HISTORY_DAYS`` before the current hour, journaled under ``.stack/simulator/``), the record of where it listens,
  and ``seed_history``, which replays those days into an empty archive, one real run per simulated day.
- For ``briefs crawl | run | probe --offline``: ``offline_site``, the stack's simulator when the stack is up, else
  one of this process's own. The CLI finds this module through the ``offline`` entry point of the
  ``briefs.plugins`` group (pyproject.toml): ``infra`` depends on ``pipelines``, never the reverse.

Snapshots are dated by capture: the days the seed replays take a minute or two of real time, so every seeded
snapshot is dated today (and its run is named after the simulated day it archived), while the articles' own
published/modified dates spread over the simulated days.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from infra.simulator.clock import DAILY_NEWS, DAY, current_hour

SIM_POSTS = 300
HISTORY_DAYS = 3
DEFAULT_PORT = 8765  # fixed: the archive keys articles by URL too, and URLs must not change between runs

log = logging.getLogger("insight_briefs.offline")


def sim_port() -> int:
    """The simulator's port: ``BRIEFS_SIM_PORT`` (as for the stack), else 8765."""
    return int(os.environ.get("BRIEFS_SIM_PORT") or DEFAULT_PORT)


def _home(stack_dir: Path | None) -> Path:
    if stack_dir is None:
        from pipelines.settings import local_stack_file

        stack_dir = local_stack_file().parent
    return Path(stack_dir) / "simulator"


# ---- the stack's simulator ------------------------------------------------------------------------------------
def simulator_command(
    port: int, stack_dir: Path | None = None, history_days: int = HISTORY_DAYS, posts: int = SIM_POSTS
) -> list[str]:
    """argv of the stack's simulator: `posts` posts, the clock `history_days` back (``seed_history``
    brings it to the present; 0: no history to replay), then following real time with a day's news every 24 h.
    Its journal in ``<stack>/simulator/clock.json`` makes a restarted simulator serve the same site."""
    return [
        sys.executable,
        "-m",
        "infra.simulator",
        "serve",
        "--posts",
        str(posts),
        "--port",
        str(port),
        "--history-days",
        str(history_days),
        "--state",
        str(_home(stack_dir) / "clock.json"),
        "--daily-changes",
    ]


def record_simulator(stack_dir: Path, url: str) -> None:
    """Where the stack's simulator listens, for ``briefs --offline`` to use it instead of starting its own."""
    home = _home(stack_dir)
    home.mkdir(parents=True, exist_ok=True)
    (home / "url").write_text(url.rstrip("/") + "\n")


def stack_simulator(stack_dir: Path | None = None) -> str | None:
    """The stack's simulator URL if the stack recorded one and it answers, else None."""
    try:
        url = (_home(stack_dir) / "url").read_text().strip()
    except OSError:
        return None
    return url if url and clock(url) is not None else None


def clock(url: str) -> dict | None:
    """A simulator's clock (``GET /__sim__/clock``), or None when nothing (or something else) answers there."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/__sim__/clock", timeout=2) as reply:
            state = json.loads(reply.read())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and "now" in state else None


def _advance(url: str, hours: float, **counts: int) -> dict:
    query = "&".join(f"{k}={v}" for k, v in {"hours": hours, **counts}.items())
    request = urllib.request.Request(f"{url.rstrip('/')}/__sim__/advance?{query}", method="POST")
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def seed_history(
    stack_dir: Path,
    storage_env: dict[str, str],
    simulator_url: str,
    say: Callable[[str], None] = print,
) -> None:
    """Bring the stack's simulator from where its clock started to the current hour, a day of news at a time
    (new, edited, renamed and removed briefs). Into an empty archive, each simulated day is archived by a real
    run (the library, as ``briefs run`` does): a reconcile of the first day, a nightly run after each day, a
    reconcile after the last (removals become tombstones), so histories and diffs are there within minutes.
    An archive that already has snapshots only sees the clock move (the nightly DAG archives what follows).
    Idempotent: once the clock is at the present this does nothing."""
    from pipelines.settings import Settings
    from pipelines.storage import Bucket
    from pipelines.verified import snapshot_seqs

    state = clock(simulator_url)
    if state is None:
        raise OSError(f"no site simulator answers at {simulator_url}")
    if state["replayed"]:
        return
    settings = Settings.from_env(storage_env)
    bucket = Bucket(settings.storage)
    empty = not snapshot_seqs(bucket)
    now = datetime.fromisoformat(state["now"])
    target = max(current_hour(), datetime.fromisoformat(state["present"]))
    steps = []
    while now < target:
        hours = min(DAY, target - now)
        steps.append(hours.total_seconds() / 3600)
        now += hours
    if not empty:
        for hours in steps:
            _advance(simulator_url, hours, **DAILY_NEWS)
        say(f"site simulator: {len(steps)} days of news replayed (the archive already has snapshots)")
        return
    work = Path(tempfile.mkdtemp(prefix="briefs-seed-", dir=stack_dir if stack_dir.exists() else None))
    try:
        day = datetime.fromisoformat(state["now"])
        _seed_run(bucket, settings, simulator_url, "reconcile", day, work, say)
        for n, hours in enumerate(steps, 1):
            _advance(simulator_url, hours, **DAILY_NEWS)
            day += timedelta(hours=hours)
            _seed_run(
                bucket, settings, simulator_url, "reconcile" if n == len(steps) else "nightly", day, work, say
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _seed_run(bucket, settings, site: str, mode: str, day: datetime, work: Path, say) -> None:
    from pipelines.run import run_once
    from spiders.runner import CrawlJob

    run_id = f"seed-{day:%Y-%m-%dT%H}-{mode}"  # named after the simulated day: the snapshot is dated today
    job = CrawlJob(out=work, mode=mode, profile=settings.profile, site=site, polite=False)
    summary = run_once(bucket, run_id, job, work / run_id, log)
    counts = summary["counts"]
    say(
        f"seeded snapshot {summary['snapshot']} ({mode}, the site as of {day:%Y-%m-%d %H:00} UTC): "
        f"{counts['new']} new, {counts['changed']} changed, {counts['removed']} removed, "
        f"{counts['aliased']} renamed"
    )


# ---- `briefs --offline` ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OfflineSite:
    """The simulated site a ``--offline`` command crawls: its origin, its clock, and a line saying which it is."""

    base: str
    now: datetime
    description: str


@contextmanager
def offline_site(simulate_days: int = 0, posts: int | None = None) -> Iterator[OfflineSite]:
    """The local stack's simulator when the stack is up (``--simulate-days``/``--posts`` would change a site the
    nightly DAG archives: refused), else a simulator of this process's own on ``sim_port()`` for the duration.
    A port taken by anything else is an error saying what to stop or start."""
    url = stack_simulator()
    if url is not None:
        if simulate_days or posts:
            raise ValueError(
                f"the local stack's simulator is up at {url}: it serves its own site, which --simulate-days and "
                "--posts would not change; drop them, or stop the stack (`uv run python -m infra.stack down`)"
            )
        state = clock(url) or {}
        now = datetime.fromisoformat(state.get("now") or datetime.now(UTC).isoformat())
        yield OfflineSite(url, now, f"the local stack's site simulator at {url} (clock {now:%Y-%m-%d %H:00})")
        return
    from infra.simulator import Simulator, Site

    site = Site(posts=posts or SIM_POSTS)
    for _ in range(simulate_days):
        site.advance(hours=24, **DAILY_NEWS)
    port = sim_port()
    try:
        simulator = Simulator(site, port=port)
    except OSError as exc:
        raise OSError(_port_taken(port, exc)) from None
    with simulator:
        yield OfflineSite(
            simulator.base,
            site.now,
            f"a simulated site of its own at {simulator.base} ({len(site.posts)} posts, clock {site.now:%Y-%m-%d}; "
            "the local stack's simulator is not up: `uv run python -m infra.stack up --offline` starts one "
            "that lives on)",
        )


def _port_taken(port: int, exc: OSError) -> str:
    where = f"127.0.0.1:{port}"
    if clock(f"http://{where}") is not None:
        who = "a site simulator the local stack did not record (one started by hand?)"
    else:
        who = f"another program ({exc.strerror or exc})"
    return (
        f"cannot start the site simulator: {where} is taken by {who}. Stop it, or start the local stack "
        "(`uv run python -m infra.stack up --offline`), whose simulator `--offline` then uses; BRIEFS_SIM_PORT "
        "picks another port (keep one port per archive: articles are keyed by URL too)"
    )
