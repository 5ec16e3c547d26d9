"""The commit under faults: a failure at every write point, concurrent commits, storage outages, bad credentials."""

from __future__ import annotations

import gzip
import json
import logging
import threading
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from infra.seaweedfs import SeaweedFS, free_port_block
from pipelines.archive import Archive
from pipelines.commit import commit_run, read_head
from pipelines.settings import Settings
from pipelines.storage import Bucket, StorageError
from spiders.runner import CrawlJob


class Injected(RuntimeError):
    pass


def fail_at(n: int):
    calls = iter(range(10**6))

    def hook(key: str) -> None:
        if next(calls) == n:
            raise Injected(f"injected failure before writing {key}")

    return hook


def test_a_failure_at_every_write_point_leaves_no_snapshot_and_the_retry_converges(cleaned, bucket, seaweed):
    records, warc_dir = cleaned
    reference_bucket = Bucket(replace(bucket.config, bucket=bucket.config.bucket + "-ref"))
    reference_bucket.ensure_bucket()
    reference = commit_run(reference_bucket, "run-x", records, {"mode": "window"}, warc_dir)
    stored = [o["key"] for o in reference_bucket.list("") if not o["key"].startswith("warc/")]
    assert reference.objects_written == len(stored), "versions, pack, index, receipt and manifest"
    writes = reference.objects_written + len(reference.manifest.warc)
    assert writes > len(records)
    for point in range(writes):
        with pytest.raises(Injected):
            commit_run(bucket, "run-x", records, {"mode": "window"}, warc_dir, before_write=fail_at(point))
        assert read_head(bucket).seq == 0, f"a failure before write {point} left a snapshot visible"
    result = commit_run(bucket, "run-x", records, {"mode": "window"}, warc_dir)
    assert result.seq == 1
    assert result.manifest.index_base == reference.manifest.index_base, (
        "converges to the undisturbed snapshot"
    )
    assert result.manifest.changes == reference.manifest.changes
    versions = [o for o in bucket.list("articles/")]
    assert len(versions) == reference.versions_written, "no version lost or duplicated"


def test_two_concurrent_commits_lose_nothing(cleaned, bucket):
    records, warc_dir = cleaned
    half = len(records) // 2
    barrier, waited = threading.Barrier(2), set()

    def race(key: str) -> None:
        if key.startswith("snapshots/") and threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            barrier.wait(timeout=30)  # both reach the commit point against the same head, once

    results, errors = {}, []

    def commit(name: str, part: list[dict]) -> None:
        try:
            results[name] = commit_run(
                Bucket(bucket.config), name, part, {"mode": "window"}, warc_dir, before_write=race
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=commit, args=("a", records[:half])),
        threading.Thread(target=commit, args=("b", records[half:])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.seq for r in results.values()) == [1, 2], "one won the race, the other rebased"
    index = Archive(bucket).index()
    assert {str(r["post_id"]) for r in records if r["status"] == "fetched"} <= set(index)


def test_wrong_credentials_and_missing_bucket_are_clear(bucket, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = Bucket(replace(bucket.config, secret_key="not-the-secret-xyz"), max_attempts=1)
    with pytest.raises(StorageError, match="refused the credentials") as err:
        wrong.check()
    assert "not-the-secret-xyz" not in str(err.value) and bucket.config.secret_key not in str(err.value)
    missing = Bucket(replace(bucket.config, bucket="no-such-bucket-here"), max_attempts=1)
    with pytest.raises(StorageError, match="does not exist"):
        missing.check()
    assert bucket.config.secret_key not in caplog.text
    anonymous = boto3.client(
        "s3",
        endpoint_url=bucket.config.endpoint_url,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED),
    )
    for call in (
        lambda: anonymous.list_objects_v2(Bucket=bucket.config.bucket),
        lambda: anonymous.put_object(Bucket=bucket.config.bucket, Key="x", Body=b"x"),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(StorageError, match="no bucket configured"):
        Settings.from_env({}, local_stack=False)


def test_server_stopped_mid_commit_then_retry_succeeds(cleaned, tmp_path):
    records, warc_dir = cleaned
    server = SeaweedFS(tmp_path / "weed", s3_port=free_port_block() + 3).start()
    try:
        config = Settings.from_env(server.env("outage")).storage
        bucket = Bucket(config, max_attempts=3)
        bucket.ensure_bucket()
        calls = iter(range(10**6))

        def stop_midway(key: str) -> None:
            if next(calls) == 5:
                server.stop()

        with pytest.raises(StorageError, match="cannot reach the S3 endpoint") as err:
            commit_run(
                bucket,
                "outage-run",
                records,
                {"mode": "window"},
                warc_dir,
                before_write=stop_midway,
                threads=1,
            )
        assert config.secret_key not in str(err.value)
        server.start()
        assert read_head(bucket).seq == 0
        result = commit_run(bucket, "outage-run", records, {"mode": "window"}, warc_dir)
        assert result.seq == 1 and result.manifest.counts.new == sum(
            r["status"] == "fetched" for r in records
        )
    finally:
        server.stop()


def test_credentials_never_leak_into_artefacts(sim, bucket, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    from pipelines.run import run_once

    secret, access = bucket.config.secret_key, bucket.config.access_key
    job = CrawlJob(
        out=tmp_path, mode="window", site=sim.base, after="2026-11-01", before="2026-11-05", polite=False
    )
    summary = run_once(bucket, "leak-check", job, tmp_path / "work", logging.getLogger("leak"))
    assert secret not in json.dumps(summary)
    for obj in bucket.list(""):
        body = bucket.get(obj["key"])
        if obj["key"].endswith(".gz"):
            body = gzip.decompress(body)
        assert secret.encode() not in body and access.encode() not in body, obj["key"]
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            data = gzip.decompress(data) if path.suffix == ".gz" else data
            assert secret.encode() not in data, path
    assert secret not in caplog.text
