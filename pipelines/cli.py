"""``briefs``: run the archive once, and read it back (snapshots, articles, histories, diffs, exports)."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

app = typer.Typer(
    help="Archive InSight Crime's news briefs and read the archive back.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)
out = Console()
SITE = "https://insightcrime.org"
SIMULATOR_PORT = 8765
At = Annotated[
    str | None, typer.Option("--at", help="Snapshot number, or a date/time (UTC): the archive as of then")
]


_invocation: dict = {}  # this invocation's global options, and its settings once read (reset by the callback)


@app.callback()
def _group(
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            dir_okay=False,
            help="Settings from this NAME=value file (BRIEFS_S3_*, AWS_*, BRIEFS_*): it wins over the environment",
        ),
    ] = None,
) -> None:
    """Archive InSight Crime's news briefs and read the archive back."""
    _invocation.clear()
    _invocation["env_file"] = env_file


@contextmanager
def clear_errors():
    """Known failures end in one line and exit 1; no traceback for a wrong id, date or credential."""
    from pipelines.archive import NotFound
    from pipelines.clean import UnreadablePage
    from pipelines.storage import StorageError
    from spiders.runner import CrawlFailed

    try:
        yield
    except (NotFound, StorageError, UnreadablePage, CrawlFailed, OSError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _settings():
    """This invocation's settings (``--env-file``, else the environment; see ``pipelines.settings``), read once.
    When nothing is configured and the local stack's file stands in, one line on stderr says so."""
    from pipelines.settings import Settings, local_stack_file

    state = _invocation
    if "settings" not in state:
        state["settings"] = Settings.from_env(env_file=state.get("env_file"))
        if state["settings"].local_stack:
            typer.echo(
                f"using the local stack's storage ({local_stack_file()}): set BRIEFS_S3_* or --env-file to "
                "choose another",
                err=True,
            )
    return state["settings"]


def _archive():
    from pipelines.archive import Archive

    return Archive.from_settings(_settings())


@contextmanager
def _site(offline: bool, simulate_days: int, posts: int, configured: bool = False):
    """The live site (with `configured`: the settings' site, BRIEFS_SITE), or the simulator (optionally after
    `simulate_days` of news) on 127.0.0.1."""
    if not offline:
        yield (_settings().site if configured else SITE), None
        return
    from infra.simulator import Simulator, Site

    site = Site(posts=posts)
    for _ in range(simulate_days):
        site.advance(hours=24, new=5, edited=2, renamed=1, removed=1)
    # A fixed port: the archive keys articles by URL too, and URLs must not change between offline runs.
    with Simulator(site, port=SIMULATOR_PORT) as simulator:
        console.print(
            f"[bold]offline[/]: simulated site ({len(site.posts)} posts, clock {site.now:%Y-%m-%d}) at "
            f"{simulator.base}"
        )
        yield simulator.base, simulator


def _first_offline_since(simulator, mode: str) -> str | None:
    """A first nightly run against the simulator takes its last month (its clock is not today's)."""
    if simulator is None or mode != "nightly":
        return None
    return (simulator.site.now - timedelta(days=30)).isoformat()


@app.command()
def crawl(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory for records, state, stats and warc/")
    ] = Path("data/crawl"),
    mode: Annotated[str, typer.Option(help="nightly, window or reconcile")] = "nightly",
    offline: Annotated[bool, typer.Option(help="Crawl the site simulator on 127.0.0.1")] = False,
    posts: Annotated[int, typer.Option(help="With --offline: number of simulated briefs")] = 300,
    editions: Annotated[str, typer.Option(help="en, es or both")] = "both",
    since: Annotated[str | None, typer.Option(help="nightly: modified after this ISO date")] = None,
    after: Annotated[str | None, typer.Option(help="window: published on or after this ISO date")] = None,
    before: Annotated[str | None, typer.Option(help="window: published before this ISO date")] = None,
    state: Annotated[Path | None, typer.Option(help="Crawl state JSONL from a previous crawl")] = None,
) -> None:
    """Crawl once into WARC files and fetch records (no cleaning, no upload)."""
    from spiders.runner import CrawlJob, run_crawl

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with clear_errors(), _site(offline, 0, posts) as (site, simulator):
        since = since or (None if state else _first_offline_since(simulator, mode))
        job = CrawlJob(
            out=out_dir,
            mode=mode,
            site=site,
            editions=editions,
            since=since,
            after=after,
            before=before,
            state=state,
            polite=not offline,
        )
        stats = run_crawl(job)
    console.print(
        f"[green]done[/]: {stats['fetch']} from {stats['candidates']} candidates; "
        f"{stats['warc_responses']} responses in {out_dir / 'warc'}"
    )


@app.command()
def run(
    mode: Annotated[str, typer.Option(help="nightly, window or reconcile")] = "nightly",
    offline: Annotated[
        bool, typer.Option(help="Archive the site simulator instead of the live site")
    ] = False,
    simulate_days: Annotated[
        int, typer.Option(help="With --offline: days of news the simulator has seen")
    ] = 0,
    posts: Annotated[int, typer.Option(help="With --offline: number of simulated briefs")] = 300,
    editions: Annotated[str, typer.Option(help="en, es or both")] = "both",
    after: Annotated[str | None, typer.Option(help="window: published on or after this ISO date")] = None,
    before: Annotated[str | None, typer.Option(help="window: published before this ISO date")] = None,
    workdir: Annotated[Path | None, typer.Option(help="Scratch directory (default: a temporary one)")] = None,
) -> None:
    """crawl -> clean -> commit once, without Airflow: the archive gains one snapshot."""
    from pipelines.commit import read_head
    from pipelines.run import run_once
    from spiders.runner import CrawlJob

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with clear_errors(), _site(offline, simulate_days, posts, configured=True) as (site, simulator):
        archive = _archive()
        archive.bucket.check()
        has_mark = bool(read_head(archive.bucket).high_water)
        since = None if has_mark else _first_offline_since(simulator, mode)
        run_id = "manual-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        job = CrawlJob(
            out=Path("."),
            mode=mode,
            site=site,
            editions=editions,
            since=since,
            after=after,
            before=before,
            polite=not offline and _settings().polite,
        )
        with (
            tempfile.TemporaryDirectory(prefix="briefs-run-") as tmp,
            console.status(f"archiving {site} ..."),
        ):
            summary = run_once(archive.bucket, run_id, job, workdir or Path(tmp))
    summary.pop("crawl_stats")
    out.print_json(json.dumps(summary))


@app.command(hidden=True)
def stage(
    name: Annotated[str, typer.Argument(help="crawl, clean or commit")],
    run_id: Annotated[str, typer.Option(help="The run's id (its staging prefix in the bucket)")],
    workdir: Annotated[Path, typer.Option(help="Local scratch directory of this stage")],
    site: Annotated[str | None, typer.Option(help="Default: the settings' site (BRIEFS_SITE)")] = None,
    mode: Annotated[str, typer.Option()] = "reconcile",
    after: Annotated[str | None, typer.Option()] = None,
    before: Annotated[str | None, typer.Option()] = None,
    polite: Annotated[bool | None, typer.Option(help="Default: the settings' (BRIEFS_POLITE)")] = None,
) -> None:
    """Run one stage of a run on its own, as an Airflow task would (for drills, benchmarks and fault tests)."""
    from pipelines import run as stages
    from pipelines.documents import to_builtins
    from spiders.runner import CrawlJob

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with clear_errors():
        settings = _settings()
        site = site or settings.site
        polite = settings.polite if polite is None else polite
        bucket = _archive().bucket
        if name == "crawl":
            job = CrawlJob(
                out=workdir / "crawl",
                mode=mode,
                site=site,
                after=after,
                before=before,
                include_modified=True,
                polite=polite,
                settings={"LOG_LEVEL": "WARNING"},
            )
            result = stages.stage_crawl(bucket, run_id, job)["fetch"]
        elif name == "clean":
            result = stages.stage_clean(bucket, run_id, workdir, site)
        elif name == "commit":
            commit = stages.stage_commit(bucket, run_id, workdir, {"mode": mode, "site": site})
            result = {
                "snapshot": commit.seq,
                "created": commit.created,
                "counts": to_builtins(commit.manifest)["counts"],
            }
        else:
            raise ValueError(f"unknown stage {name!r}: crawl, clean or commit")
    out.print_json(json.dumps(result))


@app.command()
def snapshots() -> None:
    """List the archive's snapshots, newest last."""
    from pipelines.documents import DamagedObject

    with clear_errors():
        archive = _archive()
        columns = ("articles", "new", "changed", "removed", "aliased", "superseded")
        table = Table("snapshot", "committed (UTC)", "run", *columns)
        seqs = archive.seqs()
        for seq in seqs:
            m = archive.manifest(seq)
            table.add_row(str(seq), m.created_at, m.run_id, *(str(getattr(m.counts, c)) for c in columns))
        out.print(table)
        missing = sorted(set(range(1, seqs[-1] + 1)) - set(seqs))
        if missing:
            raise DamagedObject(
                f"snapshots/: snapshots {missing[:10]} are missing; run `briefs verify --full`"
            )


@app.command()
def snapshot(
    at: Annotated[str | None, typer.Argument(help="Snapshot number or date (default: latest)")] = None,
) -> None:
    """Show one snapshot's manifest (counts, run, changes, WARC files)."""
    with clear_errors():
        from pipelines.documents import to_builtins

        archive = _archive()
        out.print_json(json.dumps(to_builtins(archive.manifest(archive.resolve(at)))))


@app.command()
def article(
    ident: Annotated[str, typer.Argument(help="WordPress post id or any URL the article has had")],
    at: At = None,
    fmt: Annotated[str, typer.Option("--format", help="text, markdown or json")] = "text",
) -> None:
    """Print an article as it was at a snapshot (latest by default)."""
    from pipelines.documents import to_builtins

    with clear_errors():
        archive = _archive()
        entry = archive.entry(ident, at)
        doc = archive.version(entry)
        if fmt == "json":
            urls = {"aliases": entry.aliases, "translations": entry.translations}
            out.print_json(json.dumps(to_builtins(doc) | urls, ensure_ascii=False))
        elif doc.status == "gone":
            out.print(
                f"article {ident} was removed (version {doc.version}, HTTP {doc.provenance.http_status})"
            )
        else:
            meta = doc.metadata
            out.print(
                f"[bold]{meta.title}[/]\n{', '.join(meta.authors)} · {meta.published} · v{doc.version}"
                f" · {doc.url}\n",
                highlight=False,
            )
            typer.echo(doc.markdown if fmt == "markdown" else doc.text)


@app.command()
def history(ident: Annotated[str, typer.Argument(help="Post id or URL")]) -> None:
    """Every version of an article, oldest first."""
    with clear_errors():
        table = Table("version", "status", "fetched", "run", "title", "fingerprint")
        for v in _archive().history(ident):
            table.add_row(
                str(v.version),
                v.status,
                v.provenance.fetched_at or "",
                v.provenance.run_id,
                (v.metadata.title if v.metadata else None) or "",
                v.fingerprint[:12],
            )
        out.print(table)


@app.command()
def diff(
    ident: Annotated[str, typer.Argument(help="Post id or URL")],
    old: Annotated[
        int | None, typer.Option("--from", help="Older version (default: the previous one)")
    ] = None,
    new: Annotated[int | None, typer.Option("--to", help="Newer version (default: the latest)")] = None,
) -> None:
    """Unified diff between two versions of an article."""
    with clear_errors():
        text = _archive().diff(ident, old, new)
        typer.echo(text or "(no difference)", nl=not text)


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="Output file")],
    at: At = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet or jsonl (gzip)")] = "parquet",
    include_gone: Annotated[bool, typer.Option(help="Include removed articles (tombstones)")] = False,
) -> None:
    """Export every article of a snapshot to Parquet or gzip JSONL."""
    from pipelines.export import count, export_snapshot

    with clear_errors():
        archive = _archive()
        seq = archive.resolve(at)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"snapshot {seq}", total=count(archive, seq, include_gone))
            rows = export_snapshot(archive, seq, path, fmt, include_gone, lambda n: progress.advance(task, n))
        console.print(f"[green]exported[/] {rows} articles of snapshot {seq} to {path}")


@app.command()
def verify(
    at: Annotated[
        int | None, typer.Option("--at", help="The snapshot to check (default: the newest)")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Every snapshot, object, digest and history link")
    ] = False,
    show: Annotated[int, typer.Option(help="Print at most this many problems and orphans")] = 20,
) -> None:
    """Check the chain, every reference and every digest; exit 1 on any damage."""
    from pipelines.verify import verify as check

    with clear_errors():
        report = check(_archive().bucket, at=at, full=full)
    for line in report.problems[:show]:
        console.print(f"[red]damaged:[/] {line}", highlight=False, soft_wrap=True)
    for key in report.orphans[:show]:
        console.print(f"orphan: {key}", highlight=False, soft_wrap=True)
    out.print_json(json.dumps(report.summary()))
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def gc(
    apply: Annotated[bool, typer.Option("--apply", help="Delete (default: only list what would go)")] = False,
    grace: Annotated[str, typer.Option(help="Keep anything younger than this: 7d, 12h, 30m")] = "7d",
    show: Annotated[int, typer.Option(help="List at most this many keys")] = 20,
) -> None:
    """Remove objects no snapshot references (crashed commits, old staging), after a grace period."""
    from pipelines import gc as collector

    with clear_errors():
        period = collector.parse_grace(grace)
        bucket = _archive().bucket
        found = collector.collect(bucket, period)
        for candidate in found.candidates[:show]:
            console.print(
                f"{'deleting' if apply else 'would delete'}: {candidate.key} ({candidate.why})",
                highlight=False,
                soft_wrap=True,
            )
        if apply:
            for _ in collector.apply(bucket, found, period):
                pass
    out.print_json(json.dumps(found.summary()))


@app.command("clean-html")
def clean_html(
    page: Annotated[Path, typer.Argument(help="A saved article page")],
    url: Annotated[str, typer.Option(help="The page's URL (for links and section)")] = f"{SITE}/news/page/",
    edition: Annotated[str, typer.Option(help="en or es")] = "en",
) -> None:
    """Clean one saved page and print the cleaned record as JSON (for debugging the clean stage)."""
    from pipelines.clean import clean_page

    with clear_errors():
        record = clean_page(page.read_bytes(), url, edition)
    out.print_json(json.dumps(record, ensure_ascii=False))


def main() -> None:
    app(prog_name="briefs")


if __name__ == "__main__":
    sys.exit(main())
