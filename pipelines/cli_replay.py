"""``briefs replay`` and ``briefs package``: replay an archived version's capture through pywb on 127.0.0.1.

Registered on the one ``briefs`` app of ``pipelines.cli`` (which imports this module); the work is in
``pipelines.replay``. pywb itself (``infra.replay``, its own environment) is the ``pywb`` entry point of the
``briefs.plugins`` group, looked up only when a capture is served: ``pipelines`` never imports ``infra``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli import At, _archive, app, clear_errors, console, out, plugin


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "insight-briefs" / "replay"


@app.command()
def replay(
    ident: Annotated[str, typer.Argument(help="WordPress post id or any URL the article has had")],
    at: At = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 8090,
    print_only: Annotated[
        bool,
        typer.Option("--print-only", help="Only fetch the WACZ and print where it is (for ReplayWeb.page)"),
    ] = False,
    cache_dir: Annotated[Path | None, typer.Option(help="Where WACZ files and pywb's collections go")] = None,
) -> None:
    """Serve the capture of an article's version (latest, or as of --at) with pywb on 127.0.0.1."""
    from pipelines import layout
    from pipelines.replay import locate

    with clear_errors():
        archive = _archive()
        cache = _cache_for(cache_dir or _default_cache(), archive.bucket.config.describe())
        capture = locate(archive, ident, at, cache)
        console.print(f"article {capture.article_id} v{capture.version}, captured {capture.timestamp}")
        if print_only:
            key = layout.wacz_key(capture.run_id)
            stored = (
                archive.bucket.config.uri(key)
                if archive.bucket.exists(key)
                else f"not stored yet ({key}: `briefs package` stores it)"
            )
            for line in (
                f"wacz: {stored}",
                f"local: {capture.wacz}",
                f"open the local file in https://replayweb.page: page {capture.url} at {capture.timestamp}",
                f"pywb: {capture.replay_url(port)}",
            ):
                out.print(line, highlight=False, soft_wrap=True)
            return
        pywb = plugin("pywb")
        root = cache / "pywb"
        root.mkdir(parents=True, exist_ok=True)
        pywb.add_collection(root, capture.collection, capture.wacz)
        with pywb.ReplayServer(root, port):
            out.print(capture.replay_url(port), highlight=False, soft_wrap=True)
            console.print("serving on 127.0.0.1 only; Ctrl-C stops it")
            _wait()


@app.command()
def package(at: At = None) -> None:
    """Package the WARC files of the run that committed a snapshot as a WACZ beside them (idempotent)."""
    from pipelines.replay import package_run

    with clear_errors():
        archive = _archive()
        seq = archive.resolve(at)
        key = package_run(archive.bucket, seq)
        out.print(f"snapshot {seq}: {key or 'no WARC files, nothing to package'}", highlight=False)


def _cache_for(base: Path, where: str) -> Path:
    """One cache per archive: two archives may have runs of the same name."""
    import hashlib

    path = base / hashlib.sha1(where.encode()).hexdigest()[:12]
    path.mkdir(parents=True, exist_ok=True)
    return path


def _wait() -> None:
    import time

    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopped")
