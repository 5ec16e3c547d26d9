"""S3-compatible object storage: configuration, a client with botocore's standard retries, and clear errors.

Configuration comes from the environment (``BRIEFS_S3_ENDPOINT_URL``, ``BRIEFS_S3_BUCKET``, ``BRIEFS_S3_PREFIX``
and the usual ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_DEFAULT_REGION``), from an Airflow
connection (see ``dags``), or from the local stack's ``.stack/s3.env`` written by ``infra``. Secrets are held
only by the boto3 client: they never enter a log line, a manifest or an exception message.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_STACK_ENV = Path(os.environ.get("BRIEFS_STACK_DIR", REPO_ROOT / ".stack")) / "s3.env"


def read_env_file(path: Path | None) -> dict[str, str]:
    """``NAME=value`` lines (``#`` comments), as ``infra.stack`` writes ``.stack/s3.env``."""
    if not path or not path.exists():
        return {}
    pairs = (line.partition("=") for line in path.read_text().splitlines() if not line.startswith("#"))
    return {name.strip(): value.strip() for name, sep, value in pairs if sep and name.strip()}


class StorageError(RuntimeError):
    """A storage operation failed; the message names the endpoint, bucket and cause, never a secret."""


class AlreadyExists(StorageError):
    """A create-only write met an existing object (HTTP 412 on ``If-None-Match: *``)."""


@dataclass(frozen=True)
class StorageConfig:
    bucket: str
    prefix: str = "insightcrime"
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: dict | None = None, stack_env: Path | None = LOCAL_STACK_ENV) -> StorageConfig:
        """Environment first; the local stack's file fills what the environment does not set."""
        env = dict(os.environ if env is None else env)
        for name, value in read_env_file(stack_env).items():
            env.setdefault(name, value)
        bucket = env.get("BRIEFS_S3_BUCKET")
        if not bucket:
            raise StorageError(
                "no bucket configured: set BRIEFS_S3_BUCKET (and BRIEFS_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, "
                "AWS_SECRET_ACCESS_KEY), or start the local stack with `uv run python -m infra.stack up`"
            )
        return cls(
            bucket=bucket,
            prefix=env.get("BRIEFS_S3_PREFIX", "insightcrime").strip("/"),
            endpoint_url=env.get("BRIEFS_S3_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL_S3") or None,
            region=env.get("AWS_DEFAULT_REGION", "us-east-1"),
            access_key=env.get("AWS_ACCESS_KEY_ID"),
            secret_key=env.get("AWS_SECRET_ACCESS_KEY"),
        )

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} at {self.endpoint_url or 'AWS'}"


def _explain(exc: Exception, config: StorageConfig, operation: str, key: str = "") -> StorageError:
    where = f"{operation} {key or ''} on {config.describe()}".replace("  ", " ")
    if isinstance(exc, EndpointConnectionError):
        return StorageError(f"cannot reach the S3 endpoint ({where}): is the server running?")
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "?")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "403"):
            return StorageError(f"S3 refused the credentials ({code}) for {where}")
        if code in ("NoSuchBucket",) or (operation == "check bucket" and status == 404):
            return StorageError(f"bucket {config.bucket!r} does not exist ({where})")
        if code in ("PreconditionFailed", "412") or status == 412:
            return AlreadyExists(f"{key} already exists ({where})")
        return StorageError(f"S3 error {code} (HTTP {status}) during {where}")
    return StorageError(f"S3 request failed during {where}: {type(exc).__name__}")


class Bucket:
    """The archive's bucket under its prefix. Every method raises StorageError with a clear message."""

    def __init__(self, config: StorageConfig, max_attempts: int = 5, pool_size: int = 32):
        self.config = config
        retries = {"mode": "standard", "max_attempts": max_attempts}
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=config.access_key,
            aws_secret_access_key=config.secret_key,
            config=Config(
                retries=retries,
                max_pool_connections=pool_size,
                connect_timeout=5,
                read_timeout=30,
                s3={"addressing_style": "path"},
            ),
        )

    def key(self, relative: str) -> str:
        return f"{self.config.prefix}/{relative}" if self.config.prefix else relative

    def relative(self, key: str) -> str:
        return key[len(self.config.prefix) + 1 :] if self.config.prefix else key

    def _call(self, operation: str, key: str, fn, **kwargs):
        try:
            return fn(Bucket=self.config.bucket, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _explain(exc, self.config, operation, key) from None

    def check(self) -> None:
        """Fail early and clearly on a wrong endpoint, wrong credentials or a missing bucket."""
        self._call("check bucket", "", self.client.head_bucket)

    def ensure_bucket(self, versioning: bool = True) -> None:
        try:
            self.client.head_bucket(Bucket=self.config.bucket)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
                raise _explain(exc, self.config, "check bucket") from None
            self._call("create bucket", "", self.client.create_bucket)
        except BotoCoreError as exc:
            raise _explain(exc, self.config, "check bucket") from None
        if versioning:
            self._call(
                "enable versioning",
                "",
                self.client.put_bucket_versioning,
                VersioningConfiguration={"Status": "Enabled"},
            )

    def put(
        self,
        relative: str,
        body: bytes,
        content_type: str = "application/octet-stream",
        create_only: bool = False,
        if_match: str | None = None,
        encoding: str | None = None,
    ) -> str:
        """Write an object; `create_only` (If-None-Match: *) raises AlreadyExists instead of overwriting."""
        extra: dict = {"ContentType": content_type}
        if encoding:
            extra["ContentEncoding"] = encoding
        if create_only:
            extra["IfNoneMatch"] = "*"
        if if_match:
            extra["IfMatch"] = if_match
        key = self.key(relative)
        result = self._call("put", key, self.client.put_object, Key=key, Body=body, **extra)
        return result.get("ETag", "")

    def get(self, relative: str) -> bytes:
        key = self.key(relative)
        return self._call("get", key, self.client.get_object, Key=key)["Body"].read()

    def exists(self, relative: str) -> bool:
        try:
            self.client.head_object(Bucket=self.config.bucket, Key=self.key(relative))
            return True
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return False
            raise _explain(exc, self.config, "head", relative) from None
        except BotoCoreError as exc:
            raise _explain(exc, self.config, "head", relative) from None

    def list(self, relative_prefix: str) -> Iterator[dict]:
        """Objects under a prefix, in key order: {"key": relative key, "size", "last_modified"}."""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=self.key(relative_prefix)):
                for obj in page.get("Contents", []):
                    yield {
                        "key": self.relative(obj["Key"]),
                        "size": obj["Size"],
                        "last_modified": obj["LastModified"],
                    }
        except (ClientError, BotoCoreError) as exc:
            raise _explain(exc, self.config, "list", relative_prefix) from None

    def upload_file(self, path: Path, relative: str) -> None:
        key = self.key(relative)
        try:
            self.client.upload_file(str(path), self.config.bucket, key)
        except (ClientError, BotoCoreError) as exc:
            raise _explain(exc, self.config, "upload", key) from None
        except boto3.exceptions.S3UploadFailedError as exc:
            raise StorageError(
                f"upload of {key} to {self.config.describe()} failed: {str(exc)[:200]}"
            ) from None

    def download_file(self, relative: str, path: Path) -> None:
        key = self.key(relative)
        try:
            self.client.download_file(self.config.bucket, key, str(path))
        except (ClientError, BotoCoreError) as exc:
            raise _explain(exc, self.config, "download", key) from None

    # JSON helpers: small documents as JSON, collections as gzip JSONL (readable with zcat and pandas).
    def put_json(self, relative: str, document: dict, **kwargs) -> str:
        body = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True).encode()
        return self.put(relative, body, "application/json", **kwargs)

    def get_json(self, relative: str) -> dict:
        return json.loads(self.get(relative))

    def get_jsonl_gz(self, relative: str) -> list[dict]:
        return [json.loads(line) for line in gzip.decompress(self.get(relative)).splitlines() if line.strip()]


def jsonl_gz(rows: list[dict]) -> bytes:
    """Deterministic bytes (mtime 0) so that equal content gives equal objects."""
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    return gzip.compress(text.encode(), mtime=0)
