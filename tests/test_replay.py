"""Replayable captures: a run's WACZ (CDXJ, pages, digests) and pywb replaying an old and a new version."""

from __future__ import annotations

import html
import json
import re
import zipfile

import pytest
from typer.testing import CliRunner

from infra.replay import ReplayServer, add_collection
from infra.seaweedfs import free_port
from pipelines import layout
from pipelines.archive import Archive
from pipelines.documents import DamagedObject
from pipelines.replay import check_wacz, locate, package_run


@pytest.fixture(scope="module")
def replay_env(simulated_archive):
    """A reconcile of the English briefs, then a day with two edits and a rename, seen by a nightly run."""
    with simulated_archive("replay-tests", posts=120) as rig:
        rig.run("dag/first", mode="reconcile", editions="en")
        change = rig.sim.site.advance(hours=24, new=1, edited=2, renamed=1, removed=0)
        rig.run("dag/second", mode="nightly", editions="en")
    yield rig.env, change, rig.bucket


def _pages(path) -> list[dict]:
    with zipfile.ZipFile(path) as wacz:
        return [json.loads(line) for line in wacz.read("pages/pages.jsonl").splitlines()]


def test_package_run_builds_a_valid_idempotent_wacz(replay_env, tmp_path):
    from wacz.main import main as wacz_main

    _, change, bucket = replay_env
    archive = Archive(bucket)
    key = package_run(bucket, 2)
    assert key == layout.wacz_key("dag/second")
    local = tmp_path / "second.wacz"
    bucket.download_file(key, local)
    assert wacz_main(["validate", "-f", str(local)]) == 0

    header, *pages = _pages(local)
    assert header["format"] == "json-pages-1.0"
    manifest = archive.manifest(2)
    added = set(manifest.changes.new) | set(manifest.changes.changed)
    assert {p["id"].split("-v")[0] for p in pages} == added and len(added) == 3  # 1 new, 2 edited
    for page in pages:
        version = archive.article(page["id"].split("-v")[0], 2)
        assert page["title"] == version.metadata.title and page["ts"] == version.provenance.fetched_at
    assert {int(p["id"].split("-v")[0]) for p in pages} >= set(change.edited)

    package = check_wacz(local, key)
    warcs = {r["path"] for r in package["resources"] if r["path"].startswith("archive/")}
    assert warcs == {"archive/" + k.rsplit("/", 1)[1] for k in manifest.warc}
    with zipfile.ZipFile(local) as wacz:
        assert wacz.getinfo(next(iter(warcs))).compress_type == zipfile.ZIP_STORED
        first = wacz.read("indexes/index.idx").decode().splitlines()
    assert first[0].startswith("!meta") and "cdxj-gzip-1.0" in first[0]

    etag = bucket.head(key)["etag"]
    assert package_run(bucket, 2) == key, "a retried task converges"
    assert bucket.head(key)["etag"] == etag, "and writes the same bytes"


def test_damage_is_refused_naming_the_key(replay_env, tmp_path):
    _, _, bucket = replay_env
    key = package_run(bucket, 1)
    local = tmp_path / "first.wacz"
    bucket.download_file(key, local)
    data = bytearray(local.read_bytes())
    with zipfile.ZipFile(local) as wacz:
        info = next(i for i in wacz.infolist() if i.filename.startswith("archive/"))
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    local.write_bytes(bytes(data))
    with pytest.raises(
        DamagedObject, match=r"capture\.wacz: .*archive/briefs-"
    ):  # the member's CRC or digest
        check_wacz(local, key)
    bucket.put(key, bytes(data), create_only=False)  # the stored WACZ is damaged: a re-package says so
    with pytest.raises(DamagedObject, match=key.replace(".", r"\.")):
        package_run(bucket, 1)
    bucket.delete(key)
    assert package_run(bucket, 1) == key


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _visible(page: str) -> str:
    """The replayed page's text: tags dropped, entities decoded, whitespace squeezed."""
    return _squeeze(html.unescape(re.sub(r"<[^>]+>", "", page)))


def test_pywb_replays_the_old_and_the_new_capture(replay_env, tmp_path, monkeypatch):
    import urllib.request

    env, change, bucket = replay_env
    archive = Archive(bucket)
    package_run(bucket, 1)
    package_run(bucket, 2)
    edited = str(change.edited[0])
    old, new = archive.article(edited, 1), archive.article(edited, 2)
    added = set(new.text.split("\n\n")) - set(old.text.split("\n\n"))
    assert added and any("Update 1:" in p for p in added)

    root = tmp_path / "pywb"
    root.mkdir()
    captures = {
        1: locate(archive, edited, 1, tmp_path / "cache"),
        2: locate(archive, edited, 2, tmp_path / "cache"),
    }
    assert captures[1].collection != captures[2].collection and captures[1].timestamp < captures[2].timestamp
    for capture in captures.values():
        add_collection(root, capture.collection, capture.wacz)
    port = free_port()
    with ReplayServer(root, port) as server:
        bodies = {}
        for seq, capture in captures.items():
            with urllib.request.urlopen(capture.replay_url(port), timeout=30) as response:
                bodies[seq] = _visible(response.read().decode("utf-8", "replace"))
        process = server.process
    assert process.poll() is not None, "pywb is stopped"
    prose = [p for p in old.text.split("\n\n") if len(p) > 40 and not p.startswith(("-", "#", "*"))]
    for paragraph in map(_squeeze, prose[:3]):
        assert paragraph in bodies[1] and paragraph in bodies[2]
    for paragraph in map(_squeeze, added):
        assert paragraph in bodies[2] and paragraph not in bodies[1], "the old capture replays the old text"

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from pipelines.cli import app

    bucket.delete(
        layout.wacz_key("dag/first")
    )  # a run packaged before this feature: built on the fly, locally
    shown = CliRunner().invoke(
        app, ["replay", edited, "--at", "1", "--print-only", "--cache-dir", str(tmp_path / "c")]
    )
    assert shown.exit_code == 0, shown.output
    assert not bucket.exists(layout.wacz_key("dag/first")), "replay reads; `briefs package` writes"
    assert captures[1].replay_url(8090).split("/", 3)[3] in shown.stdout
    assert "not stored yet (warc/dag/first/capture.wacz" in shown.stdout
