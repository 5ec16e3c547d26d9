"""``briefs changes``: what changed in a snapshot, or across every snapshot since a date, with word-level diffs.

Registered on the one ``briefs`` app of ``pipelines.cli`` (which imports this module); the report is computed by
``pipelines.changes`` from verified reads and rendered by ``pipelines.report_html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli import At, _archive, app, clear_errors, console


@app.command()
def changes(
    at: At = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Every snapshot committed after this date (or snapshot number), merged: "
            "each article from before the window to its latest state"
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="text, md, html or json")] = "text",
    out_file: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="Write to this file (default: stdout)")
    ] = None,
) -> None:
    """What changed: new, edited, renamed and removed articles with word-level diffs (default: the latest
    snapshot)."""
    from pipelines.changes import build_report
    from pipelines.report_html import FORMATS, render

    with clear_errors():
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
        archive = _archive()
        seq = archive.resolve(at)
        after = seq - 1 if since is None else min(archive.snapshot_before(since), seq)
        text = render(build_report(archive, seq, since=after), fmt)
        if out_file is None:
            typer.echo(text, nl=False)
            return
        partial = out_file.with_name(out_file.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(out_file)  # the file appears only when complete
        console.print(
            f"[green]wrote[/] {fmt} report of snapshots {after + 1}..{seq} to {out_file}", highlight=False
        )
