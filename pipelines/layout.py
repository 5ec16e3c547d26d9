"""Where everything lives in the bucket (see docs/storage.md). One function per kind of key, nothing else."""

from __future__ import annotations

import re


def version_key(article_id: str, version: int, sha256: str) -> str:
    """Immutable article version, named by its content: a swapped object cannot pass for another."""
    return f"articles/{article_id}/v{version:05d}-{sha256[:16]}.json.gz"


def pack_key(sha256: str) -> str:
    """One commit's new versions together (gzip JSONL), so that an export reads a few objects, not thousands."""
    return f"packs/{sha256}.jsonl.gz"


def index_key(sha256: str) -> str:
    """A snapshot's article index, content-addressed: a snapshot in which nothing changed reuses its parent's."""
    return f"indexes/{sha256}.jsonl.gz"


def snapshot_key(seq: int) -> str:
    """The manifest: written last, create-only, so the snapshot exists completely or not at all."""
    return f"snapshots/{seq:08d}.json"


def snapshot_seq(key: str) -> int | None:
    match = re.fullmatch(r"snapshots/([0-9]{8})\.json", key)
    return int(match.group(1)) if match else None


def receipts_prefix(run_id: str) -> str:
    return f"commits/{run_id}/"


def receipt_key(run_id: str, seq: int, input_sha256: str) -> str:
    """Written before the manifest it names: a retry finds its commit with one listing of its run's receipts."""
    return f"{receipts_prefix(run_id)}{seq:08d}-{input_sha256[:16]}.json"


def receipt_parts(key: str) -> tuple[int, str] | None:
    """(seq, input digest prefix) from a receipt key."""
    match = re.search(r"/([0-9]{8})-([0-9a-f]{16})\.json$", key)
    return (int(match.group(1)), match.group(2)) if match else None


def warc_key(run_id: str, name: str) -> str:
    return f"warc/{run_id}/{name}"


def run_key(run_id: str, name: str) -> str:
    """Run-scoped staging (crawl records, cleaned records, reports): what lets each task retry on its own."""
    return f"runs/{run_id}/{name}"


def discovery_key() -> str:
    """How each edition's REST API answers (``spiders.editions``): a cache the crawler re-probes, not history."""
    return "state/discovery.json"


# ---- derived products: rebuilt from the manifests, never part of a snapshot ----------------------------------
def table_prefix(name: str) -> str:
    """A Delta Lake table derived from the manifests (``versions``: one row per article version)."""
    return f"tables/{name}/"


def report_key(seq: int, suffix: str) -> str:
    """What changed in a snapshot, as ``html`` or ``json``."""
    return f"reports/{seq:08d}.{suffix}"


def wacz_key(run_id: str) -> str:
    """A run's captures packaged for replay (WACZ, with its CDXJ index), beside its WARC files."""
    return f"warc/{run_id}/capture.wacz"


def is_derived(key: str) -> bool:
    """Derived products are rebuilt from the manifests: not archive content, so verify does not count them as
    orphans and gc leaves them to their own maintenance."""
    return _DERIVED.fullmatch(key) is not None


_DERIVED = re.compile(r"tables/[a-z0-9_-]+/.+|reports/[0-9]{8}\.(html|json)|warc/.+/capture\.wacz")
