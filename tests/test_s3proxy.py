"""The S3 proxy (tests/s3proxy.py) in front of the real SeaweedFS: faithful relaying with credentials enforced,
and the rules that make the server behave like other stores (ignored If-None-Match, 409 on a racing write)."""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from s3proxy import CONFLICT_MESSAGE, S3Proxy

from pipelines.storage import AlreadyExists, Bucket, StorageError


@pytest.fixture
def proxy(seaweed):
    with S3Proxy(seaweed.endpoint, secret_key=seaweed.secret_key) as running:
        yield running


@pytest.fixture
def via(bucket, proxy):
    """The test's bucket, reached through the proxy (same credentials, same bucket and prefix)."""
    return Bucket(dataclasses.replace(bucket.config, endpoint_url=proxy.endpoint))


def _error(exc: ClientError) -> tuple[str, int]:
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


def _create_only(bucket: Bucket, relative: str, body: bytes) -> int:
    """A create-only PUT with the bucket's own boto3 client (botocore's retries, no error mapping): its status."""
    try:
        response = bucket.client.put_object(
            Bucket=bucket.config.bucket, Key=bucket.key(relative), Body=body, IfNoneMatch="*"
        )
    except ClientError as exc:
        return _error(exc)[1]
    return response["ResponseMetadata"]["HTTPStatusCode"]


def _signed_headers(endpoint: str, method: str, path: str, body: bytes, seaweed, secret=None) -> dict:
    """SigV4 headers for a request to `endpoint` (so signed over its Host), as boto3 would compute them."""
    request = AWSRequest(
        method, endpoint + path, headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
    )
    credentials = Credentials(seaweed.access_key, secret or seaweed.secret_key)
    SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def _send(endpoint: str, method: str, path: str, headers: dict, body=None, chunked=False):
    host, port = endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# ---- faithful relaying --------------------------------------------------------------------------------------
def test_plain_operations_go_through_with_credentials(bucket, via, proxy):
    etag = via.put("docs/a.json", b'{"a": 1}', "application/json")
    via.put_json("docs/b.json", {"b": 2})
    assert via.get("docs/a.json") == b'{"a": 1}'
    assert via.get_json("docs/b.json") == {"b": 2}
    assert bucket.get("docs/a.json") == b'{"a": 1}'  # it really landed in SeaweedFS
    assert [o["key"] for o in via.list("docs/")] == ["docs/a.json", "docs/b.json"]
    assert via.exists("docs/a.json") and not via.exists("docs/missing.json")

    head = via.client.head_object(Bucket=via.config.bucket, Key=via.key("docs/a.json"))
    assert head["ContentLength"] == 8 and head["ETag"] == etag and head["ContentType"] == "application/json"

    via.client.delete_object(Bucket=via.config.bucket, Key=via.key("docs/a.json"))
    assert not bucket.exists("docs/a.json")
    assert [o["key"] for o in bucket.list("docs/")] == ["docs/b.json"]

    methods = {e.method for e in proxy.log}
    assert {"PUT", "GET", "HEAD", "DELETE"} <= methods
    assert proxy.statuses("HEAD") == [200, 404, 200]
    assert all(e.rule is None for e in proxy.log) and proxy.hits == 0


def test_conditional_answers_are_relayed(via, proxy):
    etag = via.put("cond.txt", b"one", create_only=True)
    with pytest.raises(AlreadyExists):
        via.put("cond.txt", b"two", create_only=True)
    assert via.get("cond.txt") == b"one"

    with pytest.raises(ClientError) as not_modified:
        via.client.get_object(Bucket=via.config.bucket, Key=via.key("cond.txt"), IfNoneMatch=etag)
    assert _error(not_modified.value)[1] == 304
    with pytest.raises(ClientError) as failed:
        via.client.head_object(Bucket=via.config.bucket, Key=via.key("cond.txt"), IfMatch='"0000"')
    assert _error(failed.value)[1] == 412

    assert proxy.statuses("PUT") == [200, 412]
    assert proxy.statuses("GET", "cond.txt")[-1] == 304
    assert proxy.hits == 0


def test_multipart_upload_file_passes_through_unchanged(bucket, via, proxy, tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(10 * 1024 * 1024 + 12345))
    via.upload_file(source, "big/big.bin")

    paths = [(e.method, e.path) for e in proxy.log]
    assert any(m == "POST" and p.endswith("?uploads") for m, p in paths)  # create multipart upload
    assert sum(m == "PUT" and "partNumber=" in p for m, p in paths) >= 2  # parts
    assert any(m == "POST" and "uploadId=" in p for m, p in paths)  # complete
    assert set(proxy.statuses()) == {200}

    through, direct = tmp_path / "through.bin", tmp_path / "direct.bin"
    via.download_file("big/big.bin", through)
    bucket.download_file("big/big.bin", direct)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert hashlib.sha256(through.read_bytes()).hexdigest() == digest
    assert hashlib.sha256(direct.read_bytes()).hexdigest() == digest


def test_chunked_request_body_is_forwarded(seaweed, bucket, proxy):
    body = os.urandom(50_000)
    path = f"/{bucket.config.bucket}/{bucket.key('chunked.bin')}"
    headers = _signed_headers(proxy.endpoint, "PUT", path, body, seaweed)
    headers["Transfer-Encoding"] = "chunked"
    chunks = iter([body[:7000], body[7000:30000], body[30000:]])
    status, _ = _send(proxy.endpoint, "PUT", path, headers, chunks, chunked=True)
    assert status == 200
    assert bucket.get("chunked.bin") == body


def test_host_is_kept_as_sent_and_signatures_depend_on_it(seaweed, bucket, proxy):
    """Signed over the proxy's address: accepted through the proxy, refused if the Host were the server's."""
    bucket.put("host.txt", b"x")
    path = f"/{bucket.config.bucket}/{bucket.key('host.txt')}"
    headers = _signed_headers(proxy.endpoint, "GET", path, b"", seaweed)
    assert _send(proxy.endpoint, "GET", path, headers) == (200, b"x")
    status, answer = _send(seaweed.endpoint, "GET", path, headers)  # what a Host-rewriting proxy would cause
    assert status == 403 and b"SignatureDoesNotMatch" in answer


def test_unauthenticated_requests_are_still_refused(seaweed, bucket, via, proxy):
    bucket.put("secret.txt", b"s")
    unsigned = boto3.session.Session().client(
        "s3",
        endpoint_url=proxy.endpoint,
        region_name="us-east-1",
        config=Config(
            signature_version=UNSIGNED, s3={"addressing_style": "path"}, retries={"max_attempts": 1}
        ),
    )
    with pytest.raises(ClientError) as denied:
        unsigned.get_object(Bucket=bucket.config.bucket, Key=bucket.key("secret.txt"))
    assert _error(denied.value)[1] == 403
    with pytest.raises(ClientError) as denied_write:
        unsigned.put_object(Bucket=bucket.config.bucket, Key=bucket.key("anon.txt"), Body=b"a")
    assert _error(denied_write.value)[1] == 403
    assert not bucket.exists("anon.txt")

    with pytest.raises(urllib.error.HTTPError) as raw:
        urllib.request.urlopen(
            f"{proxy.endpoint}/{bucket.config.bucket}/{bucket.key('secret.txt')}", timeout=10
        )
    assert raw.value.code == 403

    wrong = Bucket(dataclasses.replace(via.config, secret_key="not-the-secret"), max_attempts=1)
    with pytest.raises(StorageError, match="refused the credentials"):
        wrong.get("secret.txt")
    assert proxy.statuses() == [403, 403, 403, 403]


# ---- rules ----------------------------------------------------------------------------------------------------
def test_ignore_if_none_match_makes_create_only_writes_overwrite(via, proxy):
    via.put("once.txt", b"first", create_only=True)
    with pytest.raises(AlreadyExists):
        via.put("once.txt", b"second", create_only=True)
    assert proxy.hits == 0

    proxy.ignore_if_none_match = True
    via.put("once.txt", b"third", create_only=True)  # the store ignored the precondition
    assert via.get("once.txt") == b"third"
    assert proxy.hits == 1
    assert [(e.status, e.rule) for e in proxy.log if e.method == "PUT"] == [
        (200, None),
        (412, None),
        (200, "ignore_if_none_match"),
    ]

    proxy.ignore_if_none_match = False
    with pytest.raises(AlreadyExists):
        via.put("once.txt", b"fourth", create_only=True)


def test_rules_combine_and_ignoring_needs_the_secret(seaweed, via, proxy):
    with S3Proxy(seaweed.endpoint) as keyless, pytest.raises(ValueError, match="secret_key"):
        keyless.ignore_if_none_match = True

    via.put("runs/manifest.json", b"old", create_only=True)
    proxy.conflict("manifest.json")  # answered by the proxy: the header is irrelevant, nothing re-signed
    proxy.ignore_if_none_match = True
    assert _create_only(via, "runs/manifest.json", b"new") == 409
    assert _create_only(via, "runs/manifest.json", b"new") == 200
    assert via.get("runs/manifest.json") == b"new"
    assert proxy.hits == 2 and proxy.statuses("PUT") == [200, 409, 200]
    assert [e.rule for e in proxy.log if e.method == "PUT"] == [None, "conflict", "ignore_if_none_match"]

    proxy.conflict("manifest.json", forward=True)  # forwarded, re-signed without the header, then hidden
    assert _create_only(via, "runs/manifest.json", b"newer") == 409
    assert via.get("runs/manifest.json") == b"newer"
    assert proxy.log[-2].rule == "conflict+forward+ignore_if_none_match" and proxy.hits == 4


def test_conflict_gives_one_409_then_writes_go_through(bucket, via, proxy):
    proxy.conflict("runs/r1/manifest.json")
    assert proxy.pending_conflicts == 1
    with pytest.raises(ClientError) as conflict:
        via.client.put_object(
            Bucket=via.config.bucket, Key=via.key("runs/r1/manifest.json"), Body=b"{}", IfNoneMatch="*"
        )
    assert _error(conflict.value) == ("ConditionalRequestConflict", 409)
    assert conflict.value.response["Error"]["Message"] == CONFLICT_MESSAGE
    assert conflict.value.response["Error"]["Key"] == via.key("runs/r1/manifest.json")
    assert proxy.statuses("PUT") == [409]  # botocore's standard retries do not retry it
    assert proxy.hits == 1 and proxy.pending_conflicts == 0
    assert not bucket.exists("runs/r1/manifest.json")  # forward=False: the server never saw it

    via.put("runs/r1/manifest.json", b"{}", create_only=True)
    assert bucket.get("runs/r1/manifest.json") == b"{}"
    assert proxy.statuses("PUT") == [409, 200]

    proxy.conflict("runs/r2/")
    with pytest.raises(StorageError):  # whichever StorageError pipelines.storage maps a 409 to
        via.put("runs/r2/manifest.json", b"{}", create_only=True)
    assert not bucket.exists("runs/r2/manifest.json")


def test_conflict_with_forward_lets_the_write_happen(bucket, via, proxy):
    proxy.conflict("state.json", forward=True)
    assert _create_only(via, "state.json", b"v1") == 409
    assert bucket.get("state.json") == b"v1"  # the 409 hid a write that did take place
    with pytest.raises(AlreadyExists):
        via.put("state.json", b"v2", create_only=True)
    assert [(e.status, e.rule) for e in proxy.log if e.method == "PUT"] == [
        (409, "conflict+forward"),
        (412, None),
    ]


def test_conflict_matches_only_conditional_puts_of_the_key(bucket, via, proxy):
    proxy.conflict("target", times=2)
    via.put("target.txt", b"plain")  # no If-None-Match: not matched
    via.put("other.txt", b"o", create_only=True)  # another key
    assert via.get("target.txt") == b"plain"
    assert proxy.hits == 0 and proxy.pending_conflicts == 2

    assert [_create_only(via, f"target-{i}.txt", b"c") for i in range(3)] == [409, 409, 200]
    assert proxy.statuses("PUT") == [200, 200, 409, 409, 200]
    assert proxy.hits == 2 and proxy.pending_conflicts == 0

    proxy.conflict("target")
    proxy.reset()
    via.put("target-3.txt", b"c", create_only=True)
    assert proxy.log[-1].status == 200 and proxy.hits == 0


def test_rules_hold_under_concurrent_requests(bucket, via, proxy):
    proxy.conflict("race/", times=3)
    barrier = threading.Barrier(12)

    def write(i: int) -> int:
        barrier.wait()
        return _create_only(via, f"race/{i}.txt", str(i).encode())

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(write, range(12)))
    assert sorted(outcomes) == [200] * 9 + [409] * 3
    assert sorted(proxy.statuses("PUT")) == [200] * 9 + [409] * 3
    assert proxy.hits == 3
    assert len(list(bucket.list("race/"))) == 9


def test_stopping_releases_the_port(seaweed):
    with S3Proxy(seaweed.endpoint) as running:
        endpoint = running.endpoint
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(endpoint + "/", timeout=5)  # 403 from SeaweedFS, through the proxy
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(endpoint + "/", timeout=5)
