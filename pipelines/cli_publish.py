"""``briefs publish``: bring the Delta Lake table of every article version up to date (``pipelines.delta``).

Registered on the one ``briefs`` app of ``pipelines.cli`` (which imports this module).
"""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.cli import _archive, app, clear_errors, out


@app.command()
def publish(
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Recreate the table from every manifest in one overwrite commit: readers see the old table or "
            "the new one, never a partial one (old files stay for time travel until a vacuum). A table whose "
            "log cannot be read is deleted first.",
        ),
    ] = False,
    upto: Annotated[
        str | None,
        typer.Option("--upto", help="Publish up to this snapshot number or date (default: the latest)"),
    ] = None,
) -> None:
    """Append the snapshots the Delta table lacks (tables/versions/: one row per article version), one Delta
    commit per snapshot; a repeated publish adds nothing."""
    from pipelines.delta import publish as publish_table
    from pipelines.delta import rebuild as rebuild_table

    with clear_errors():
        bucket = _archive().bucket
        if rebuild:
            result = rebuild_table(bucket, upto)
            out.print(
                f"rebuilt {result.uri}: snapshots 1-{result.upto}, {result.rows} rows "
                f"(table version {result.table_version})",
                highlight=False,
            )
            return

        def committed(seq: int, rows: int) -> None:
            out.print(f"snapshot {seq}: {rows} rows", highlight=False)

        result = publish_table(bucket, upto, on_commit=committed)
        if result.snapshots:
            out.print(
                f"appended {len(result.snapshots)} snapshots ({result.snapshots[0]}-{result.snapshots[-1]}), "
                f"{result.rows} rows to {result.uri} (table version {result.table_version})",
                highlight=False,
            )
        else:
            out.print(f"nothing to append: {result.uri} holds snapshots up to {result.upto}", highlight=False)
