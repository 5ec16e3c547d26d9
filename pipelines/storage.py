"""S3-compatible object storage: configuration, a client with botocore's standard retries, and clear errors.

``StorageConfig`` is plain data: ``pipelines.settings.Settings`` builds it from the environment, an env file, the
Airflow connection ``briefs_s3`` or (only when nothing is configured) the local stack's ``.stack/s3.env``. Secrets
are held only by the config and the boto3 client: they never enter a log line, a manifest or an exception message.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

_HONOURS_CREATE_ONLY: set[tuple[str | None, str]] = set()


class StorageError(RuntimeError):
    """A storage operation failed; the message names the endpoint, bucket and cause, never a secret."""


class AlreadyExists(StorageError):
    """A create-only write met an existing object (HTTP 412 on ``If-None-Match: *``)."""


class WriteConflict(AlreadyExists):
    """A conditional write raced another one (HTTP 409 ConditionalRequestConflict, as AWS S3 answers): the
    caller treats it like 412, as a lost race: re-read, then decide again."""


class MissingObject(StorageError):
    """A key that should exist does not (HTTP 404 / NoSuchKey)."""


@dataclass(frozen=True)
class StorageConfig:
    bucket: str
    prefix: str  # the archive's root in the bucket (default: the site profile's storage_prefix)
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        return f"{self.uri()} at {self.endpoint_url or 'AWS'}"

    def uri(self, relative: str = "") -> str:
        """``s3://{bucket}/{prefix}/{relative}``: how other tools (Delta, Airflow Assets, aws-cli) name it."""
        path = "/".join(part for part in (self.prefix.strip("/"), relative.strip("/")) if part)
        return f"s3://{self.bucket}/{path}"


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
        if code == "ConditionalRequestConflict" or (status == 409 and operation == "put"):
            return WriteConflict(f"{key}: a concurrent conditional write is in progress ({where})")
        if code in ("NoSuchKey", "404") or status == 404:
            return MissingObject(f"missing object {key} ({where})")
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
        response = self._call("get", key, self.client.get_object, Key=key)
        try:
            return response["Body"].read()
        except (BotoCoreError, OSError) as exc:  # the connection broke mid-body
            raise _explain(exc, self.config, "get", key) from None

    def head(self, relative: str) -> dict | None:
        """{"size", "last_modified", "etag"} of an object, or None when it does not exist."""
        try:
            meta = self.client.head_object(Bucket=self.config.bucket, Key=self.key(relative))
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise _explain(exc, self.config, "head", relative) from None
        except BotoCoreError as exc:
            raise _explain(exc, self.config, "head", relative) from None
        return {"size": meta["ContentLength"], "last_modified": meta["LastModified"], "etag": meta["ETag"]}

    def delete(self, relative: str) -> None:
        key = self.key(relative)
        self._call("delete", key, self.client.delete_object, Key=key)

    def ensure_create_only(self) -> None:
        """Refuse to commit on a store that ignores ``If-None-Match: *``: two racing commits would both "win".

        Probed once per process and bucket: write a fresh key twice, create-only; the second must be refused.
        """
        where = (self.config.endpoint_url, self.config.bucket)
        if where in _HONOURS_CREATE_ONLY:
            return
        probe = f"probes/{uuid.uuid4().hex}"
        self.put(probe, b"probe", create_only=True)
        try:
            self.put(probe, b"probe again", create_only=True)
        except AlreadyExists:
            _HONOURS_CREATE_ONLY.add(where)
            return
        finally:
            self.delete(probe)
        raise StorageError(
            f"the store at {self.config.describe()} ignores create-only writes (If-None-Match: *): a second "
            "create-only PUT of the same key succeeded. Commits would overwrite each other; refusing to commit."
        )

    def exists(self, relative: str) -> bool:
        return self.head(relative) is not None

    def list(self, relative_prefix: str) -> Iterator[dict]:
        """Objects under a prefix, in key order: {"key": relative key, "size", "last_modified", "etag"}."""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=self.key(relative_prefix)):
                for obj in page.get("Contents", []):
                    yield {
                        "key": self.relative(obj["Key"]),
                        "size": obj["Size"],
                        "last_modified": obj["LastModified"],
                        "etag": obj.get("ETag", "").strip('"'),
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

    # Run staging keeps small plain-JSON documents (report.json); archive documents go through `documents`.
    def put_json(self, relative: str, document: dict, **kwargs) -> str:
        body = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True).encode()
        return self.put(relative, body, "application/json", **kwargs)

    def get_json(self, relative: str) -> dict:
        return json.loads(self.get(relative))
