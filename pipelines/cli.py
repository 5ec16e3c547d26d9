"""``briefs``: the command line of insight-briefs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Archive InSight Crime's news briefs and read the archive back.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


@app.callback()
def _group() -> None:
    """Archive InSight Crime's news briefs and read the archive back."""


@app.command()
def crawl(
    out: Annotated[
        Path, typer.Option(help="Directory for records.jsonl, state.jsonl, stats.json and warc/")
    ] = Path("data/crawl"),
    mode: Annotated[str, typer.Option(help="nightly, window or reconcile")] = "nightly",
    site: Annotated[str, typer.Option(help="Site to crawl")] = "https://insightcrime.org",
    offline: Annotated[bool, typer.Option(help="Serve the site simulator on 127.0.0.1 and crawl it")] = False,
    posts: Annotated[int, typer.Option(help="With --offline: number of simulated briefs")] = 300,
    editions: Annotated[str, typer.Option(help="en, es or both")] = "both",
    since: Annotated[str | None, typer.Option(help="nightly: modified after this ISO date")] = None,
    after: Annotated[str | None, typer.Option(help="window: published on or after this ISO date")] = None,
    before: Annotated[str | None, typer.Option(help="window: published before this ISO date")] = None,
    state: Annotated[Path | None, typer.Option(help="Crawl state JSONL from a previous run")] = None,
) -> None:
    """Crawl once into WARC files and fetch records (no cleaning, no upload)."""
    from spiders.runner import CrawlFailed, CrawlJob, run_crawl

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    simulator = None
    if offline:
        from infra.simulator import Simulator, Site

        simulator = Simulator(Site(posts=posts)).start()
        site = simulator.base
        console.print(f"[bold]offline[/]: simulated site with {len(simulator.site.posts)} posts at {site}")
        if mode == "nightly" and since is None and state is None:
            since = "2026-11-01T00:00:00Z"  # the simulator's clock stands at 2026-11-20
    job = CrawlJob(
        out=out,
        mode=mode,
        site=site,
        editions=editions,
        since=since,
        after=after,
        before=before,
        state=state,
        polite=not offline,
    )
    try:
        stats = run_crawl(job)
    except CrawlFailed as exc:
        console.print(f"[red]error[/]: {exc}")
        raise typer.Exit(1) from None
    finally:
        if simulator:
            simulator.stop()
    console.print(
        f"[green]done[/]: {stats['fetch']} from {stats['candidates']} candidates; "
        f"{stats['warc_responses']} responses in {out / 'warc'}"
    )


def main() -> None:
    app()
