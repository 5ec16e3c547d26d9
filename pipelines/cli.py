"""``briefs``: run the archive once, and read it back (snapshots, articles, histories, diffs, exports)."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from spiders.sites import DEFAULT_PROFILE

app = typer.Typer(
    help="Archive a news site's briefs and read the archive back (the site: a profile in spiders/sites/).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class Stdout(Console):
    """stdout, by one rule for every command: on a terminal, rich output fitted to its width; piped or redirected,
    nothing is wrapped or cut: a table becomes tab-separated values (a header line, then a line per row; its title
    goes to stderr) and text is written as is."""

    def __init__(self) -> None:
        super().__init__(soft_wrap=True)

    def print(self, *objects, **kwargs) -> None:
        if self.file.isatty() or not any(isinstance(o, Table) for o in objects):
            super().print(*objects, **kwargs)
            return
        for item in objects:
            if not isinstance(item, Table):
                super().print(item, **kwargs)
                continue
            if item.title:
                console.print(item.title, highlight=False)
            rows = [[_plain(c.header) for c in item.columns]]
            rows += zip(*([_plain(cell) for cell in c.cells] for c in item.columns), strict=True)
            self.file.write("".join("\t".join(row) + "\n" for row in rows))
            self.file.flush()


def _plain(cell) -> str:
    """A table cell's text without markup, on one line (tabs and newlines would break the columns)."""
    text = Text.from_markup(cell).plain if isinstance(cell, str) else getattr(cell, "plain", str(cell))
    return text.replace("\t", " ").replace("\n", " ")


console = Console(stderr=True, soft_wrap=True)  # messages are never broken into lines either
out = Stdout()
ProfileOption = Annotated[str, typer.Option(help="Site profile: spiders/sites/<name>.py")]
SiteOption = Annotated[
    str | None,
    typer.Option(
        "--site", help="Base URL to crawl with the profile's rules (default: BRIEFS_SITE, else live)"
    ),
]
CategoriesOption = Annotated[
    str | None,
    typer.Option(
        help="Scope: comma-separated category slugs, each with all its subcategories (default: profile)"
    ),
]
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
    """Archive a news site's briefs and read the archive back."""
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
    except BrokenPipeError:  # `briefs ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        raise typer.Exit(0) from None
    except (NotFound, StorageError, UnreadablePage, CrawlFailed, OSError, ValueError) as exc:
        hint = ""
        if isinstance(exc, NotFound) and str(exc).startswith("no snapshot existed on"):
            hint = (
                ": snapshots are dated by capture (when their run committed them), not by the articles' "
                "dates; `briefs snapshots` lists them, and --at also takes a snapshot number"
            )
        console.print(f"[red]error:[/] {exc}{hint}", highlight=False, soft_wrap=True)
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


def plugin(name: str):
    """A part of briefs that lives outside ``pipelines`` (``offline``: the site simulator, ``pywb``: replay), found
    through the ``briefs.plugins`` entry points of pyproject.toml: ``infra`` builds on ``pipelines``, and
    ``pipelines`` never imports ``infra``."""
    from importlib.metadata import entry_points

    found = entry_points(group="briefs.plugins", name=name)
    if not found:
        raise OSError(
            f"briefs' {name!r} part is not installed (entry point {name!r} of the briefs.plugins group): "
            "run `uv sync` in the project"
        )
    return next(iter(found)).load()


@contextmanager
def _site(offline: bool, simulate_days: int, posts: int | None, site: str | None = None):
    """`site` (``--site``), else the settings' site (BRIEFS_SITE, default the profile's live site); or, offline,
    the local stack's simulator when the stack is up, else one of this process's own (``infra.offline``)."""
    if not offline:
        yield (site or _settings().site).rstrip("/"), None
        return
    with plugin("offline").offline_site(simulate_days, posts) as simulated:
        console.print(f"[bold]offline[/]: {simulated.description}", highlight=False)
        yield simulated.base, simulated


def _first_offline_since(simulated, mode: str) -> str | None:
    """A first nightly run against the simulator takes its last month (its clock is not today's)."""
    if simulated is None or mode != "nightly":
        return None
    return (simulated.now - timedelta(days=30)).isoformat()


@app.command()
def crawl(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory for records, state, stats and warc/")
    ] = Path("data/crawl"),
    mode: Annotated[str, typer.Option(help="nightly, window or reconcile")] = "nightly",
    offline: Annotated[
        bool, typer.Option(help="Crawl the site simulator (the local stack's, when it is up)")
    ] = False,
    posts: Annotated[
        int | None, typer.Option(help="With --offline and no stack: simulated briefs (default 300)")
    ] = None,
    editions: Annotated[str, typer.Option(help="en, es or both")] = "both",
    since: Annotated[str | None, typer.Option(help="nightly: modified after this ISO date")] = None,
    after: Annotated[str | None, typer.Option(help="window: published on or after this ISO date")] = None,
    before: Annotated[str | None, typer.Option(help="window: published before this ISO date")] = None,
    state: Annotated[Path | None, typer.Option(help="Crawl state JSONL from a previous crawl")] = None,
    site: SiteOption = None,
    categories: CategoriesOption = None,
    profile: ProfileOption = DEFAULT_PROFILE,
) -> None:
    """Crawl once into WARC files and fetch records (no cleaning, no upload, no settings needed)."""
    from spiders.runner import CrawlJob, run_crawl
    from spiders.sites import load_profile

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with (
        clear_errors(),
        _site(offline, 0, posts, site or load_profile(profile).base_url) as (site, simulated),
    ):
        since = since or (None if state else _first_offline_since(simulated, mode))
        job = CrawlJob(
            out=out_dir,
            mode=mode,
            profile=profile,
            site=site,
            categories=categories,
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
        bool,
        typer.Option(help="Archive the site simulator (the local stack's, when it is up), not the live site"),
    ] = False,
    simulate_days: Annotated[
        int, typer.Option(help="With --offline and no stack: days of news the simulator has seen first")
    ] = 0,
    posts: Annotated[
        int | None, typer.Option(help="With --offline and no stack: simulated briefs (default 300)")
    ] = None,
    editions: Annotated[str, typer.Option(help="en, es or both")] = "both",
    after: Annotated[str | None, typer.Option(help="window: published on or after this ISO date")] = None,
    before: Annotated[str | None, typer.Option(help="window: published before this ISO date")] = None,
    workdir: Annotated[Path | None, typer.Option(help="Scratch directory (default: a temporary one)")] = None,
    site: SiteOption = None,
    categories: CategoriesOption = None,
) -> None:
    """crawl -> clean -> commit once, without Airflow: the archive gains one snapshot."""
    from pipelines.commit import read_head
    from pipelines.run import run_once
    from spiders.runner import CrawlJob

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with clear_errors(), _site(offline, simulate_days, posts, site) as (site, simulated):
        archive = _archive()
        archive.bucket.check()
        has_mark = bool(read_head(archive.bucket).high_water)
        since = None if has_mark else _first_offline_since(simulated, mode)
        run_id = "manual-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        job = CrawlJob(
            out=Path("."),
            mode=mode,
            profile=_settings().profile,
            site=site,
            categories=categories,
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
        profile = settings.site_profile.at(site)
        polite = settings.polite if polite is None else polite
        bucket = _archive().bucket
        if name == "crawl":
            job = CrawlJob(
                out=workdir / "crawl",
                mode=mode,
                profile=profile.name,
                site=profile.base_url,
                after=after,
                before=before,
                include_modified=True,
                polite=polite,
                settings={"LOG_LEVEL": "WARNING"},
            )
            result = stages.stage_crawl(bucket, run_id, job)["fetch"]
        elif name == "clean":
            result = stages.stage_clean(bucket, run_id, workdir, profile)
        elif name == "commit":
            run_info = {"mode": mode, "site": profile.base_url}
            commit = stages.stage_commit(bucket, run_id, workdir, run_info, profile)
            result = {
                "snapshot": commit.seq,
                "created": commit.created,
                "counts": to_builtins(commit.manifest)["counts"],
            }
        else:
            raise ValueError(f"unknown stage {name!r}: crawl, clean or commit")
    out.print_json(json.dumps(result))


@app.command("clean-html")
def clean_html(
    page: Annotated[Path, typer.Argument(help="A saved article page")],
    url: Annotated[str | None, typer.Option(help="The page's URL (default: the profile's site)")] = None,
    edition: Annotated[str, typer.Option(help="The page's edition (en, es, ...)")] = "en",
    profile: ProfileOption = DEFAULT_PROFILE,
) -> None:
    """Clean one saved page and print the cleaned record as JSON (for debugging the clean stage)."""
    from pipelines.clean import clean_page
    from spiders.sites import load_profile

    with clear_errors():
        rules = load_profile(profile)
        record = clean_page(page.read_bytes(), url or f"{rules.base_url}/", rules, edition)
    out.print_json(json.dumps(record, ensure_ascii=False))


@app.command()
def probe(
    site: Annotated[str | None, typer.Option("--site", help="Base URL (default: the profile's)")] = None,
    profile: ProfileOption = DEFAULT_PROFILE,
    offline: Annotated[
        bool, typer.Option(help="Probe the site simulator (the local stack's, when it is up)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    polite: Annotated[bool | None, typer.Option(hidden=True, help="Default: unless --offline")] = None,
) -> None:
    """Check, read-only, every surface the pipeline relies on (run before the first night); exit 1 on a failure."""
    from pipelines.probe import print_report, run_probe
    from spiders.sites import load_profile

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with (
        clear_errors(),
        _site(offline, 0, None, site or load_profile(profile).base_url) as (url, simulated),
        console.status(f"probing {url} ..."),
    ):
        report = run_probe(profile, url, polite=simulated is None if polite is None else polite)
    if as_json:
        out.print_json(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        print_report(report, out)
    raise typer.Exit(report.exit_code)


# The archive's reader commands (snapshots, article, history, diff, export, verify, gc) live beside this module.
from pipelines import cli_archive, cli_changes, cli_publish, cli_replay  # noqa: E402, F401 - register their commands on `app`


def main() -> None:
    app(prog_name="briefs")


if __name__ == "__main__":
    # `python -m pipelines.cli`: this file runs as __main__, but the reader commands register on the module
    # `pipelines.cli`; run that one.
    from pipelines.cli import main as package_main

    sys.exit(package_main())
