"""Run a crawl from Python (Airflow, the CLI, tests): in a subprocess, because Twisted's reactor cannot restart.

The child's log lines stream into this process's logger as they come, so an Airflow task log shows the crawl live.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .sites import DEFAULT_PROFILE

log = logging.getLogger("insight_briefs.crawl")


class CrawlFailed(RuntimeError):
    """The crawler process exited non-zero or wrote no stats: its outputs must not be used."""


@dataclass
class CrawlJob:
    """Arguments of one crawl; ``out`` receives records.jsonl, state.jsonl, stats.json and warc/."""

    out: Path
    mode: str = "nightly"
    profile: str = DEFAULT_PROFILE
    site: str | None = None  # default: the profile's base URL
    editions: str = "all"
    since: str | None = None
    after: str | None = None
    before: str | None = None
    state: Path | None = None
    surfaces: str = "auto"
    max_items: int | None = None
    force_refetch: bool = False
    categories: str | None = None
    include_modified: bool = False
    polite: bool = True
    settings: dict[str, object] = field(default_factory=dict)

    def command(self) -> list[str]:
        args = {
            "mode": self.mode,
            "profile": self.profile,
            "site": self.site,
            "editions": self.editions,
            "since": self.since,
            "after": self.after,
            "before": self.before,
            "state": Path(self.state).resolve() if self.state else None,
            "surfaces": self.surfaces,
            "max_items": self.max_items,
            "force_refetch": self.force_refetch,
            "include_modified": self.include_modified,
            "categories": self.categories,
        }
        out = Path(self.out).resolve()
        settings: dict[str, object] = {"BRIEFS_OUT": out, "WARC_DIR": out / "warc"}
        if not self.polite:  # benchmarks and tests against the local simulator only
            settings |= {
                "AUTOTHROTTLE_ENABLED": False,
                "DOWNLOAD_DELAY": 0,
                "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
                "CONCURRENT_REQUESTS": 32,
                "RETRY_BACKOFF_BASE": 0.05,
            }
        settings |= self.settings
        command = [sys.executable, "-m", "scrapy", "crawl", "briefs"]
        for name, value in args.items():
            if value is not None:
                command += ["-a", f"{name}={value}"]
        for name, value in settings.items():
            command += ["-s", f"{name}={value}"]
        return command


def run_crawl(job: CrawlJob, logger: logging.Logger | None = None) -> dict:
    """Run the crawl to completion and return its stats summary (``stats.json``)."""
    logger = logger or log
    out = Path(job.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "stats.json").unlink(missing_ok=True)  # a stale file must not pass for this run's result
    env = dict(os.environ, SCRAPY_SETTINGS_MODULE="spiders.settings", PYTHONUNBUFFERED="1")
    root = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    with subprocess.Popen(
        job.command(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
        cwd=out,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-19:], line]
            logger.info("%s", line)
        code = proc.wait()
    stats_path = out / "stats.json"
    if code != 0 or not stats_path.exists():
        detail = next((t for t in reversed(tail) if "Error" in t or "error" in t), tail[-1] if tail else "")
        raise CrawlFailed(f"crawl exited with code {code}: {detail}")
    return json.loads(stats_path.read_text())
