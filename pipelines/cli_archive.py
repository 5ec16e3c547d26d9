"""``briefs`` reader commands: the archive's snapshots, articles, history and diffs, export, verify and gc.

Tables print by ``pipelines.cli.Stdout``'s rule: fitted to a terminal, tab-separated values when piped.

Registered on the one ``briefs`` app of ``pipelines.cli`` (which imports this module); reads go through
``pipelines.archive``, every object verified.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from pipelines.cli import At, _archive, app, clear_errors, console, out


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
                f" · {_urls(entry, doc)}\n",
                highlight=False,
            )
            typer.echo(doc.markdown if fmt == "markdown" else doc.text)


@app.command()
def articles(
    at: At = None,
    changed: Annotated[
        bool, typer.Option("--changed", help="Only articles with more than one version, removed or renamed")
    ] = False,
    limit: Annotated[int | None, typer.Option(help="At most this many (most versions first)")] = None,
) -> None:
    """List a snapshot's articles (latest by default), most versions first: ids to read, history and diff."""
    with clear_errors():
        index = _archive().index(at)
        rows = [e for e in index.values() if not changed or e.version > 1 or e.status == "gone" or e.aliases]
        rows.sort(key=lambda e: (-e.version, e.status != "gone", -len(e.aliases), e.article_id))
        table = Table("id", "edition", "versions", "status", "former urls", "title", "url")
        for e in rows[:limit]:
            table.add_row(
                e.article_id,
                e.edition or "",
                str(e.version),
                e.status,
                str(len(e.aliases)),
                e.title or "",
                e.url,
            )
        out.print(table)


@app.command()
def history(ident: Annotated[str, typer.Argument(help="Post id or URL")]) -> None:
    """Every version of an article, oldest first (the URL each was captured at; the current one on stderr)."""
    with clear_errors():
        archive = _archive()
        entry = archive.entry(ident)
        table = Table("version", "status", "fetched", "run", "title", "url", "fingerprint")
        for v in archive.history(ident):
            table.add_row(
                str(v.version),
                v.status,
                v.provenance.fetched_at or "",
                v.provenance.run_id,
                (v.metadata.title if v.metadata else None) or "",
                v.url,
                v.fingerprint[:12],
            )
        console.print(_where(entry), highlight=False, soft_wrap=True)
        out.print(table)


@app.command()
def diff(
    ident: Annotated[str, typer.Argument(help="Post id or URL")],
    old: Annotated[
        int | None, typer.Option("--from", help="Older version (default: the previous one)")
    ] = None,
    new: Annotated[int | None, typer.Option("--to", help="Newer version (default: the latest)")] = None,
) -> None:
    """Unified diff between two versions of an article (each header names the URL; the latest, the current)."""
    with clear_errors():
        archive = _archive()
        entry = archive.entry(ident)
        if entry.version == 1 and old is None and new is None:
            status = "removed" if entry.status == "gone" else "unchanged"
            out.print(
                f"article {entry.article_id} has one version (v1, {status} since it was first archived): "
                f"nothing to diff. {_where(entry)}",
                highlight=False,
            )
            return
        text = archive.diff(ident, old, new)
        if not text:
            typer.echo("(no difference)")
            return
        head, plus, body = text.split("\n", 2)
        now_at = (new or entry.version) == entry.version and entry.status == "live"
        typer.echo(f"{head}\n{plus}{f'  now at {entry.url}' if now_at else ''}\n{body}", nl=False)


def _where(entry) -> str:
    """Where an article is now, and where it was before a rename."""
    former = f" (formerly {', '.join(entry.aliases)})" if entry.aliases else ""
    return f"article {entry.article_id} is at {entry.url}{former}"


def _urls(entry, doc) -> str:
    """The version's URL, and the article's current one when a rename came after the version."""
    return doc.url if doc.url == entry.url else f"{entry.url} (captured as {doc.url})"


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="Output file")],
    at: At = None,
    fmt: Annotated[
        str, typer.Option("--format", help="parquet, or jsonl (gzip if PATH ends in .gz)")
    ] = "parquet",
    include_gone: Annotated[bool, typer.Option(help="Include removed articles (tombstones)")] = False,
    changes_since: Annotated[
        str | None,
        typer.Option(help="Only the versions added after this date (or snapshot): edits, new and removed"),
    ] = None,
) -> None:
    """Export every article of a snapshot (or only what changed since a date) to Parquet or JSONL."""
    from pipelines.export import count, export_snapshot

    with clear_errors():
        archive = _archive()
        seq = archive.resolve(at)
        if changes_since is not None:
            after = archive.snapshot_before(changes_since)
            rows = export_snapshot(archive, seq, path, fmt, changes_after=after)
            console.print(
                f"[green]exported[/] {rows} versions added by snapshots {after + 1}..{seq} to {path}"
            )
            return
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
    out.print_json(json.dumps(report.summary() | _table_lag(_archive().bucket)))
    if not report.ok:
        raise typer.Exit(1)


def _table_lag(bucket) -> dict:
    """Snapshots the versions table lacks (a failed or pending publish): reported, never damage to the archive,
    so it never changes verify's exit code. ``table_lags`` is None without a table, or when it cannot be read."""
    from pipelines.delta import TableError, VersionsTable, lag

    try:
        if VersionsTable(bucket).load() is None:
            return {"table_lags": None}
        missing = lag(bucket)
    except TableError as exc:
        console.print(f"[yellow]table:[/] {exc}", highlight=False, soft_wrap=True)
        return {"table_lags": None, "table_error": str(exc)}
    if missing:
        console.print(
            f"lagging: the versions table lacks snapshots {missing[0]}..{missing[-1]} ({len(missing)}); "
            "`briefs publish` appends them",
            highlight=False,
            soft_wrap=True,
        )
    return {"table_lags": len(missing)}


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
