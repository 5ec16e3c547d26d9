"""The reader as users meet it: the `briefs` CLI, exports, and plain boto3 + gzip on the documented layout."""

from __future__ import annotations

import gzip
import hashlib
import json

import boto3
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.verified import read_index, read_manifest


@pytest.fixture(scope="module")
def archive_env(simulated_archive):
    """Built once for the module: ``four_snapshots``."""
    with simulated_archive("reader-tests", posts=200) as rig:
        change = rig.four_snapshots()
        yield rig.env, change, rig.sim, rig.bucket


@pytest.fixture
def archived(archive_env, monkeypatch):
    env, change, _, _ = archive_env
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return change


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_cli_reads_snapshots_articles_histories_diffs(archived, archive_env):
    sim = archive_env[2]
    listing = cli("snapshots")
    assert listing.exit_code == 0 and "first" in listing.stdout and "second" in listing.stdout
    manifest = json.loads(cli("snapshot", "2").stdout)
    assert manifest["counts"]["changed"] == 2 and manifest["parent"] == 1
    edited = archived.edited[0]
    latest = cli("article", str(edited))
    assert latest.exit_code == 0 and "Update 1:" in latest.stdout
    assert "Update 1:" not in cli("article", str(edited), "--at", "1").stdout
    as_json = json.loads(cli("article", sim.url(sim.site.posts[edited]), "--format", "json").stdout)
    assert as_json["version"] == 2 and as_json["metadata"]["title"] == sim.site.posts[edited].title
    history = cli("history", str(edited))
    assert history.exit_code == 0 and "second" in history.stdout
    diff = cli("diff", str(edited))
    assert diff.exit_code == 0 and "+Update 1:" in diff.stdout and diff.stdout.startswith("---")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("article", "424242"), "no article 424242"),
        (("article", "1", "--at", "77"), "no snapshot 77"),
        (("article", "1", "--at", "yesterday-ish"), "not a date"),
        (("snapshot", "1900-01-01"), "no snapshot existed"),
        (("diff", "424242"), "no article"),
    ],
)
def test_cli_errors_are_one_line(archived, args, message):
    result = cli(*args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 2


def test_exports_parquet_and_jsonl(archived, archive_env, tmp_path):
    bucket = archive_env[3]
    shown = json.loads(cli("snapshot").stdout)
    manifest = read_manifest(bucket, shown["seq"]).manifest
    assert manifest.index_base.key == shown["index_base"]["key"]
    live = sum(e.status == "live" for e in read_index(bucket, manifest).values())
    assert live == manifest.counts.live > 0
    result = cli("export", str(tmp_path / "a.parquet"))
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "a.parquet")
    assert table.num_rows == live and {"text", "title", "authors", "url", "version"} <= set(
        table.column_names
    )
    assert table.schema.field("published").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("post_id").type == pa.int64()
    published = {
        r["article_id"]: r["published"] for r in table.select(["article_id", "published"]).to_pylist()
    }
    assert all(p is not None and p.tzinfo is not None for p in published.values())
    assert cli("export", str(tmp_path / "a.jsonl.gz"), "--format", "jsonl", "--at", "1").exit_code == 0
    with gzip.open(tmp_path / "a.jsonl.gz", "rt") as handle:
        rows = [json.loads(line) for line in handle]
    assert all(r["version"] == 1 for r in rows)
    assert cli("export", str(tmp_path / "b.jsonl"), "--format", "jsonl").exit_code == 0
    assert (tmp_path / "b.jsonl").read_bytes()[:2] != b"\x1f\x8b", "plain JSONL unless the name says .gz"
    plain = pa_json.read_json(tmp_path / "b.jsonl")
    assert plain.num_rows == live
    assert {
        r["article_id"]: r["published"] for r in plain.select(["article_id", "published"]).to_pylist()
    }.keys() == (published.keys())


def test_plain_boto3_reads_the_documented_layout(archived, archive_env):
    """docs/storage.md promises: list snapshots/, read the manifest, the gzip JSONL index, the version objects."""
    storage_env = archive_env[0]
    s3 = boto3.client(
        "s3",
        endpoint_url=storage_env["BRIEFS_S3_ENDPOINT_URL"],
        aws_access_key_id=storage_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=storage_env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    bucket, prefix = storage_env["BRIEFS_S3_BUCKET"], storage_env["BRIEFS_S3_PREFIX"]

    def listing(under: str) -> list[str]:
        reply = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{under}")
        return [o["Key"] for o in reply.get("Contents", [])]

    def get(key: str) -> bytes:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    keys = listing("snapshots/")
    manifests = [json.loads(get(key)) for key in keys]
    assert [m["seq"] for m in manifests] == [1, 2, 3, 4]
    manifest = manifests[-1]
    assert manifest["index_deltas"], "a quiet night on a larger archive adds deltas, not a whole index"
    merged: dict[str, dict] = {}  # the base, then each delta in order: a later entry replaces an earlier one
    for ref in [manifest["index_base"], *manifest["index_deltas"]]:
        body = get(f"{prefix}/{ref['key']}")
        assert hashlib.sha256(body).hexdigest() == ref["sha256"]
        lines = [json.loads(line) for line in gzip.decompress(body).splitlines()]
        assert len(lines) == ref["articles"]
        merged.update((e["article_id"], e) for e in lines)
    index = list(merged.values())
    assert len(index) == manifest["counts"]["articles"]
    assert sum(e["status"] == "live" for e in index) == manifest["counts"]["live"]
    removed = [str(post_id) for post_id in archived.removed]
    assert [e["article_id"] for e in index if e["status"] == "gone"] == removed
    assert [(m["counts"]["gone"], m["counts"]["removed"], m["changes"]["removed"]) for m in manifests] == [
        (0, 0, []),
        (0, 0, []),
        (1, 1, removed),  # the reconcile run saw the removal
        (1, 0, []),  # gone: the archive's total; removed: this run's
    ]
    for m in manifests:  # each manifest lists its run's WARC files, also through the staged path
        run_warcs = {key.removeprefix(f"{prefix}/") for key in listing(f"warc/{m['run_id']}/")}
        assert run_warcs and run_warcs <= set(m["warc"]), m["seq"]
    listed = {key for m in manifests for key in m["warc"]}
    entries = [e for e in index if e["status"] == "live"]
    assert {e["key"].split("/")[0] for e in entries} == {"articles"}
    for entry in (entries[0], next(e for e in entries if e["version"] > 1)):
        body = gzip.decompress(get(f"{prefix}/{entry['key']}"))
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        version = json.loads(body)
        assert version["text"] and version["fingerprint"] == entry["fingerprint"]
        assert version["version"] == entry["version"] and version["article_id"] == entry["article_id"]
        provenance = version["provenance"]
        assert provenance["warc"] in listed, "the version's WARC file is listed by a manifest"
        cited_by = next(m for m in manifests if m["run_id"] == provenance["run_id"])
        assert provenance["warc"] in cited_by["warc"], "...by the manifest of the run that fetched it"
        s3.head_object(Bucket=bucket, Key=f"{prefix}/{provenance['warc']}")
    gone = next(e for e in index if e["status"] == "gone")
    tombstone = json.loads(gzip.decompress(get(f"{prefix}/{gone['key']}")))
    assert tombstone["status"] == "gone" and tombstone["text"] is None and tombstone["previous"]


def test_export_of_what_changed_since_a_snapshot_or_date(archived, archive_env, tmp_path):
    bucket = archive_env[3]
    from pipelines.archive import Archive

    seqs = Archive(bucket).seqs()
    assert len(seqs) >= 2, "the fixture commits more than one snapshot"
    added = set()
    for seq in seqs[1:]:
        manifest = read_manifest(bucket, seq).manifest
        added |= set(manifest.changes.new) | set(manifest.changes.changed) | set(manifest.changes.removed)
    assert cli("export", str(tmp_path / "c.parquet"), "--changes-since", str(seqs[0])).exit_code == 0
    table = pq.read_table(tmp_path / "c.parquet")
    assert {r["article_id"] for r in table.select(["article_id"]).to_pylist()} == added
    assert set(table.column("committed_in").to_pylist()) <= set(seqs[1:])
    assert table.schema.field("committed_at").type == pa.timestamp("ms", tz="UTC")
    assert (
        cli(
            "export", str(tmp_path / "all.jsonl"), "--format", "jsonl", "--changes-since", "2000-01-01"
        ).exit_code
        == 0
    )
    everything = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    counts = [read_manifest(bucket, s).manifest.counts for s in seqs]
    assert len(everything) == sum(c.new + c.changed + c.removed for c in counts)
    refused = cli("export", str(tmp_path / "x.parquet"), "--changes-since", "999")
    assert (
        refused.exit_code == 1
        and "no snapshot 999" in refused.output
        and not (tmp_path / "x.parquet").exists()
    )
