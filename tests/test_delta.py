"""The Delta table of every article version, against a real SeaweedFS and a small real archive: publish, idempotence,
crash and resume, rebuild, racing publishers, lag, the log's statistics, and every Python block of docs/reading.md."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from pipelines import layout
from pipelines.archive import Archive
from pipelines.cli import app
from pipelines.commit import commit_run
from pipelines.delta import (
    APP_ID,
    STATS_COLUMNS,
    TableError,
    VersionsTable,
    lag,
    publish,
    rebuild,
    snapshot_table,
)
from pipelines.storage import Bucket
from pipelines.verified import read_manifest, read_pack
from spiders.discovery import parse_time

DOC = Path(__file__).resolve().parent.parent / "docs" / "reading.md"


@pytest.fixture(scope="module")
def archive_env(simulated_archive):
    """Built once: ``four_snapshots`` (the fourth, a quiet night, is a snapshot with no packs)."""
    with simulated_archive("delta-tests", posts=80) as rig:
        change = rig.four_snapshots()
    yield rig.env, change, rig.bucket


@pytest.fixture
def archive(archive_env, monkeypatch) -> Archive:
    env, _, bucket = archive_env
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Archive(bucket)


def pack_versions(archive: Archive) -> int:
    """Versions in the packs of every snapshot, counted from the packs themselves."""
    return sum(
        sum(1 for line in read_pack(archive.bucket, pack, "test") if line.strip())
        for seq in archive.seqs()
        for pack in archive.manifest(seq).packs
    )


def table_rows(archive: Archive, name: str) -> pa.Table:
    loaded = VersionsTable(archive.bucket, name).load()
    assert loaded is not None, f"no table {name}"
    return loaded.to_pyarrow_table().sort_by([("article_id", "ascending"), ("version", "ascending")])


def test_the_archive_has_what_the_tests_need(archive):
    seqs = archive.seqs()
    assert seqs == [1, 2, 3, 4]
    assert archive.manifest(4).packs == [], "the quiet night adds no versions"
    latest = archive.index()
    assert any(e.status == "gone" for e in latest.values()) and any(e.version > 1 for e in latest.values())


def test_publish_appends_every_version_once_and_again_nothing(archive):
    result = publish(archive.bucket, name="once")
    expected = pack_versions(archive)
    # every version of every article, counted another way: the current version numbers of the latest index
    assert expected == sum(e.version for e in archive.index().values())
    assert result.snapshots == [1, 2, 3, 4] and result.rows == expected and result.upto == 4
    table = VersionsTable(archive.bucket, "once")
    loaded = table.load()
    assert loaded.count() == expected and loaded.transaction_version(APP_ID) == 4
    assert result.table_version == loaded.version() == 4, (
        "created, then one commit per snapshot (empty ones too)"
    )
    rows = table_rows(archive, "once")
    keys = list(zip(rows["article_id"].to_pylist(), rows["version"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys))
    again = publish(archive.bucket, name="once")
    assert again.snapshots == [] and again.rows == 0
    assert table.load().version() == loaded.version(), "a repeated publish commits nothing"
    assert lag(archive.bucket, name="once") == []


def test_rows_carry_the_versions_and_their_provenance(archive):
    publish(archive.bucket, name="once")
    rows = {(r["article_id"], r["version"]): r for r in table_rows(archive, "once").to_pylist()}
    for entry in archive.index().values():
        row = rows[(entry.article_id, entry.version)]
        assert row["version_key"] == entry.key and row["status"] == entry.status
        assert row["fingerprint"] == entry.fingerprint and row["post_id"] == entry.post_id
        assert row["committed_in"] <= entry.observed_in
        doc = archive.version(entry)
        assert row["text"] == doc.text and row["warc_key"] == doc.provenance.warc
        assert row["warc_offset"] == doc.provenance.warc_offset and row["run_id"] == doc.provenance.run_id
        if doc.extractor is None:  # a tombstone
            assert row["extractor"] is None and row["text"] is None
        else:
            assert row["extractor"].startswith(f"{doc.extractor.name} {doc.extractor.version}")
    for seq in archive.seqs():
        committed = parse_time(archive.manifest(seq).created_at)
        assert {r["committed_at"] for r in rows.values() if r["committed_in"] == seq} <= {committed}


def test_timestamps_are_utc(archive):
    publish(archive.bucket, name="once")
    rows = table_rows(archive, "once")
    for column in ("published", "modified", "committed_at"):
        assert rows.schema.field(column).type == pa.timestamp("us", tz="UTC")
    assert rows.schema.field("post_id").type == pa.int64()
    live = [r for r in rows.to_pylist() if r["status"] == "live"]
    assert live and all(r["published"].utcoffset().total_seconds() == 0 for r in live)
    assert all(r["committed_at"].tzinfo is not None for r in rows.to_pylist())


def test_the_log_carries_no_text(archive):
    publish(archive.bucket, name="once")
    log = [o["key"] for o in archive.bucket.list("tables/once/_delta_log/") if o["key"].endswith(".json")]
    stats = []
    for key in log:
        for line in archive.bucket.get(key).decode().splitlines():
            add = json.loads(line).get("add")
            if add and add.get("stats"):
                stats.append(json.loads(add["stats"]))
    assert stats, "the data files must carry statistics (for data skipping)"
    for stat in stats:
        assert stat["numRecords"] > 0 and "post_id" in stat["minValues"]
        assert set(stat["minValues"]) | set(stat["maxValues"]) <= set(STATS_COLUMNS.split())
    raw = "".join(archive.bucket.get(key).decode() for key in log)
    texts = [v.text for v in (archive.version(e) for e in archive.index().values()) if v.text]
    assert texts and not any(text[:40] in raw for text in texts)


def test_crash_and_resume(archive):
    expected = pack_versions(archive)
    first = publish(archive.bucket, upto=2, name="resume")
    assert first.snapshots == [1, 2] and lag(archive.bucket, name="resume") == [3, 4]

    class Crash(Exception):
        pass

    def crash(seq: int, rows: int) -> None:
        raise Crash(f"killed after snapshot {seq}")

    with pytest.raises(Crash, match="after snapshot 3"):
        publish(archive.bucket, name="resume", on_commit=crash)
    assert lag(archive.bucket, name="resume") == [4]
    resumed = publish(archive.bucket, name="resume")
    assert resumed.snapshots == [4] and resumed.rows == 0
    rows = table_rows(archive, "resume")
    assert rows.num_rows == expected
    publish(archive.bucket, name="once")
    assert rows.equals(table_rows(archive, "once"))


def test_rebuild_gives_the_same_rows(archive):
    publish(archive.bucket, name="rebuilt")
    before = table_rows(archive, "rebuilt")
    version = VersionsTable(archive.bucket, "rebuilt").load().version()
    result = rebuild(archive.bucket, name="rebuilt")
    assert result.rows == before.num_rows and result.upto == 4
    assert result.table_version == version + 1, "one overwrite commit: readers never see a partial table"
    assert table_rows(archive, "rebuilt").equals(before)
    assert publish(archive.bucket, name="rebuilt").snapshots == []


def test_a_damaged_log_fails_loudly_and_rebuild_recovers(archive):
    publish(archive.bucket, upto=2, name="damaged")
    expected = snapshot_table(archive, 1).num_rows + snapshot_table(archive, 2).num_rows
    key = "tables/damaged/_delta_log/00000000000000000000.json"
    archive.bucket.put(key, b"{not json")
    with pytest.raises(TableError, match=re.escape(VersionsTable(archive.bucket, "damaged").uri)):
        publish(archive.bucket, name="damaged")
    result = rebuild(archive.bucket, upto=2, name="damaged")
    assert result.rows == expected and table_rows(archive, "damaged").num_rows == expected
    assert lag(archive.bucket, name="damaged") == [3, 4]


def test_a_table_not_written_by_publish_is_refused(archive):
    from deltalake import write_deltalake

    table = VersionsTable(archive.bucket, "foreign")
    write_deltalake(table.uri, pa.table({"x": [1]}), storage_options=table.options)
    with pytest.raises(TableError, match="not written by `briefs publish`"):
        publish(archive.bucket, name="foreign")


def test_a_stale_publisher_loses_the_race_cleanly(archive):
    publish(archive.bucket, upto=1, name="stale")
    table = VersionsTable(archive.bucket, "stale")
    stale = table.load()
    publish(archive.bucket, upto=2, name="stale")
    rows = table.load().count()
    late = read_manifest(archive.bucket, 2)
    assert table.append(stale, 2, snapshot_table(archive, 2), "late", late.sha256) is False
    assert table.load().count() == rows and table.load().transaction_version(APP_ID) == 2
    assert publish(archive.bucket, name="stale").snapshots == [3, 4], "the loser re-plans from the table"


def test_a_table_left_by_another_archive_is_refused(archive):
    """Another archive once used this prefix (re-created, restored): its table must not get this one's rows."""
    other = Bucket(dataclasses.replace(archive.bucket.config, prefix=archive.bucket.config.prefix + "-other"))
    for run in ("a", "b"):
        records = [
            {
                "post_id": 900 + i,
                "edition": "en",
                "url": f"https://example.org/news/{run}{i}/",
                "status": "gone",
            }
            for i in range(2)
        ]
        commit_run(other, f"other-{run}", records, {})  # two snapshots: tombstone-free, nothing archived
    publish(other)
    for obj in other.list(layout.table_prefix("versions")):
        archive.bucket.put(obj["key"].replace("versions/", "foreign/", 1), other.get(obj["key"]))
    with pytest.raises(TableError, match="another archive"):
        publish(archive.bucket, name="foreign")
    with pytest.raises(TableError, match="another archive"):
        lag(archive.bucket, name="foreign")
    assert rebuild(archive.bucket, name="foreign").upto == archive.seqs()[-1], "a rebuild makes it ours"
    assert publish(archive.bucket, name="foreign").snapshots == []


@pytest.mark.parametrize("attempt", range(3))
def test_racing_publishers_add_each_snapshot_once(archive, attempt):
    results, errors = [], []
    start = threading.Barrier(3)

    def publisher():
        start.wait()
        try:
            results.append(publish(archive.bucket, name=f"race{attempt}"))
        except Exception as exc:  # reported below: a race must never fail a publisher
            errors.append(exc)

    threads = [threading.Thread(target=publisher) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    appended = sorted(seq for r in results for seq in r.snapshots)
    assert appended == [1, 2, 3, 4], "each snapshot committed by exactly one publisher"
    rows = table_rows(archive, f"race{attempt}")
    assert rows.num_rows == pack_versions(archive) == sum(r.rows for r in results)


def test_lag_lists_the_snapshots_the_table_lacks(archive):
    assert lag(archive.bucket, name="lagging") == [1, 2, 3, 4]
    publish(archive.bucket, upto=3, name="lagging")
    assert lag(archive.bucket, name="lagging") == [4]


def test_errors_name_the_table_never_the_secret(archive):
    config = archive.bucket.config
    wrong = Bucket(dataclasses.replace(config, secret_key="wrong-" + config.secret_key[:20]))
    with pytest.raises(TableError) as caught:
        VersionsTable(wrong, "once").load()
    message = str(caught.value)
    assert VersionsTable(wrong, "once").uri in message and "SignatureDoesNotMatch" in message
    assert config.secret_key not in message and wrong.config.secret_key not in message
    assert config.access_key not in message
    assert len(message.splitlines()) == 1


def test_cli_publish_and_rebuild(archive):
    runner = CliRunner()
    VersionsTable(archive.bucket).delete_objects()  # other tests publish this table too: start without one
    first = runner.invoke(app, ["publish"])
    assert first.exit_code == 0, first.output
    assert "appended 4 snapshots (1-4)" in first.stdout
    again = runner.invoke(app, ["publish"])
    assert again.exit_code == 0 and "nothing to append" in again.stdout and "up to 4" in again.stdout
    rebuilt = runner.invoke(app, ["publish", "--rebuild"])
    assert rebuilt.exit_code == 0 and "rebuilt" in rebuilt.stdout
    assert f"{pack_versions(archive)} rows" in rebuilt.stdout
    missing = runner.invoke(app, ["publish", "--upto", "9"])
    assert missing.exit_code == 1 and "no snapshot 9" in missing.output and "Traceback" not in missing.output


def test_verify_reports_a_lagging_table_without_failing(archive):
    runner = CliRunner()
    rebuild(archive.bucket, upto=3)
    lagging = runner.invoke(app, ["verify"])
    assert lagging.exit_code == 0, lagging.output
    assert "the versions table lacks snapshots 4..4 (1)" in lagging.output
    assert json.loads(lagging.stdout[lagging.stdout.index("{") :])["table_lags"] == 1
    publish(archive.bucket)
    caught_up = runner.invoke(app, ["verify"])
    assert caught_up.exit_code == 0 and "lacks" not in caught_up.output
    assert json.loads(caught_up.stdout[caught_up.stdout.index("{") :])["table_lags"] == 0


# ---- docs/reading.md: every Python block, run in order against the published table ------------------------------
def doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_reading_doc_runs_and_its_queries_match_the_archive(archive):
    pytest.importorskip("polars")
    try:
        import pandas  # noqa: F401
    except ImportError:
        pytest.fail("docs/reading.md reads the table into pandas: pandas must be a dev dependency")
    publish(archive.bucket)
    blocks = doc_blocks()
    assert len(blocks) >= 8
    namespace: dict = {}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"docs/reading.md python block {number}", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"docs/reading.md python block {number} failed: {type(exc).__name__}: {exc}")
    total = pack_versions(archive)
    assert len(namespace["df"]) == total and str(namespace["df"]["published"].dt.tz) == "UTC"
    latest = archive.index()
    assert len(namespace["edited"]) == sum(max(e.version - 1, 0) for e in latest.values())
    assert set(namespace["gone"]["post_id"].to_pylist()) == {
        e.post_id for e in latest.values() if e.status == "gone"
    }
    assert namespace["versions"].height == total
    for seq in archive.seqs():
        index = {(e.article_id, e.version, e.status) for e in archive.index(seq).values()}
        as_of = namespace["as_of"](seq)
        assert set(zip(as_of["article_id"], as_of["version"], as_of["status"], strict=True)) == index
        when = archive.manifest(seq).created_at
        by_date = namespace["as_of_date"](when)
        assert set(zip(by_date["article_id"], by_date["version"], by_date["status"], strict=True)) == index
    edited = next(e for e in latest.values() if e.version > 1 and e.status == "live")
    history = namespace["history"](edited.post_id)
    expected = [(v.version, v.status, v.text) for v in archive.history(edited.article_id)]
    assert list(zip(history["version"], history["status"], history["text"], strict=True)) == expected
