"""Shared fixtures: a fresh simulated site per test and a helper that runs a real crawl against it."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.seaweedfs import free_port
from infra.simulator import Simulator, Site
from spiders.runner import CrawlJob, run_crawl

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    """Airflow reads its configuration at import: point it at a throwaway home before anything imports it.

    The suite runs beside a developer's local stack (and beside itself, one process per xdist worker): no test
    reads the stack's ``.stack/`` (its credentials, its simulator) or takes the default simulator port.
    """
    home = Path(tempfile.mkdtemp(prefix="briefs-airflow-"))
    os.environ.update(
        BRIEFS_STACK_DIR=str(home / "no-stack"),
        BRIEFS_SIM_PORT=str(free_port()),
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        BRIEFS_SCHEDULE="0 6 * * *",  # the simulator's clock turns at 06:00 UTC: windows line up with its days
        BRIEFS_RETRY_DELAY_SECONDS="1",
        BRIEFS_POLITE="false",
    )


# The suite runs on two xdist workers (pyproject: -n 2 --dist loadfile: a module stays on one worker, so module
# fixtures are set up once). Modules are handed out in collection order: the longest go first, so neither worker is
# left with a long tail (--no-loadscope-reorder: xdist would otherwise order modules by their number of tests).
LONGEST_FIRST = (
    "test_stack",
    "test_fault_injection",
    "test_distributed",
    "test_dag",
    "test_alerts",
    "test_damaged_archive",
    "test_integrity",
    "test_first_hour",
    "test_housekeeping",
)


def pytest_collection_modifyitems(config, items):
    rank = {module: n for n, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: modules stay contiguous


@pytest.fixture
def sim():
    """A simulated site (300 briefs, both editions) on a free 127.0.0.1 port, with a trap server beside it."""
    with Simulator(Site(posts=300)) as simulator:
        yield simulator


@dataclass
class CrawlResult:
    out: Path
    stats: dict

    @property
    def records(self) -> list[dict]:
        lines = (self.out / "records.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def ids(self, *statuses: str) -> set[int]:
        return {r["post_id"] for r in self.records if not statuses or r["status"] in statuses}

    def by_id(self) -> dict[int, dict]:
        return {r["post_id"]: r for r in self.records}

    @property
    def state(self) -> Path:
        return self.out / "state.jsonl"

    @property
    def warc_files(self) -> list[Path]:
        return sorted((self.out / "warc").glob("*.warc.gz"))


@pytest.fixture
def crawl(tmp_path):
    """Run the real spider (in a subprocess) against a simulator; politeness off, retries quick."""
    counter = iter(range(1000))

    def run(simulator: Simulator, **kwargs) -> CrawlResult:
        out = tmp_path / f"crawl{next(counter)}"
        settings = {"RETRY_BACKOFF_BASE": 0.05, "LOG_LEVEL": "INFO", **kwargs.pop("settings", {})}
        job = CrawlJob(out=out, site=simulator.base, polite=False, settings=settings, **kwargs)
        return CrawlResult(out, run_crawl(job))

    return run


@pytest.fixture
def cleaned(sim, tmp_path):
    """A real crawl of a simulated week (about 15 briefs), cleaned: the records a commit receives, and its WARC
    directory."""
    from pipelines.clean import clean_run
    from spiders.sites import load_profile

    out = tmp_path / "crawl"
    run_crawl(
        CrawlJob(out=out, mode="window", site=sim.base, after="2026-11-01", before="2026-11-08", polite=False)
    )
    clean_run(
        out / "records.jsonl",
        out / "warc",
        tmp_path / "cleaned.jsonl.gz",
        load_profile("insightcrime", sim.base),
        workers=2,
    )
    with gzip.open(tmp_path / "cleaned.jsonl.gz", "rt") as handle:
        records = [json.loads(line) for line in handle]
    assert records
    return records, out / "warc"


# ---- object storage: a real SeaweedFS server, credentials enforced --------------------------------------------
@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """One SeaweedFS for the session on free 127.0.0.1 ports; each test gets its own bucket."""
    from infra.seaweedfs import SeaweedFS, free_port_block

    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"), s3_port=free_port_block() + 3).start()
    yield server
    server.stop()


@pytest.fixture
def storage_env(seaweed, monkeypatch, request):
    """Environment pointing at a fresh versioned bucket; returns it as a dict."""
    import re

    from pipelines.settings import Settings
    from pipelines.storage import Bucket

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    env = seaweed.env(bucket=f"t-{name}-{next(_buckets)}")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    Bucket(Settings.from_env(env).storage).ensure_bucket(versioning=True)
    return env


@pytest.fixture
def bucket(storage_env):
    from pipelines.settings import Settings
    from pipelines.storage import Bucket

    return Bucket(Settings.from_env(storage_env).storage)


_buckets = iter(range(10**6))


@dataclass
class ArchiveRig:
    env: dict
    bucket: object
    sim: Simulator
    run: object  # run(run_id, **crawl job fields) -> run_once's summary

    def four_snapshots(self):
        """Snapshots 1-4 of the English briefs: a reconcile; a day with two new, two edited, one renamed and one
        removed brief (the nightly run sees the edits and the rename, the next reconcile the removal); a quiet
        nightly run. Returns the simulator's record of that day's changes (the ground truth)."""
        self.run("first", mode="reconcile", editions="en")
        change = self.sim.site.advance(hours=24, new=2, edited=2, renamed=1, removed=1)
        self.run("second", mode="nightly", editions="en")
        self.run("third", mode="reconcile", editions="en")
        self.run("fourth", mode="nightly", editions="en")
        return change


@pytest.fixture(scope="session")
def simulated_archive(seaweed, tmp_path_factory):
    """For module fixtures that build an archive once: ``with simulated_archive("name", posts=200) as rig:``
    gives a bucket on the session's SeaweedFS, a simulated site (``rig.sim``) and ``rig.run(run_id, **job)``,
    one real crawl -> clean -> commit."""
    import logging
    from contextlib import contextmanager

    from pipelines.run import run_once
    from pipelines.settings import Settings
    from pipelines.storage import Bucket

    @contextmanager
    def make(name: str, posts: int):
        env = seaweed.env(bucket=name)
        bucket = Bucket(Settings.from_env(env).storage)
        bucket.ensure_bucket()
        tmp = tmp_path_factory.mktemp(name)
        with Simulator(Site(posts=posts)) as sim:

            def run(run_id: str, **kwargs) -> dict:
                job = CrawlJob(out=tmp, site=sim.base, polite=False, **kwargs)
                workdir = tmp / run_id.replace("/", "_")
                return run_once(bucket, run_id, job, workdir, logging.getLogger("test"))

            yield ArchiveRig(env, bucket, sim, run)

    return make
