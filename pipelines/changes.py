"""What changed: the change set of one snapshot (or a window of snapshots) with readable word-level diffs.

Derived from the manifests and verified reads only (``Archive``): the manifests' ``changes`` say which articles
moved, the index before the window and the index at its end say from what to what, and the versions of edited
articles are read (each verified) for their diffs. The same archive always gives the same report, byte for byte:
``created_at`` is the last snapshot's own commit time, never "now". ``publish_report`` writes
``reports/{seq}.json`` and ``reports/{seq}.html`` beside a snapshot; they are rebuildable and never part of it.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from . import layout
from .documents import Count, DamagedObject, Doc, IndexEntry, Sha256, Status, decode, decoder, encode

if TYPE_CHECKING:
    from .archive import Archive
    from .documents import Version
    from .storage import Bucket

REPORT_FORMAT = "insight-briefs-changes/1"
Kind = Literal["edited", "renamed", "aliased", "new", "restored", "removed"]
KIND_ORDER: tuple[str, ...] = ("edited", "renamed", "aliased", "new", "restored", "removed")
Field = Literal["title", "authors", "published", "modified", "body"]
SeqNumber = Annotated[int, msgspec.Meta(ge=1)]
CONTEXT_PARAGRAPHS = 1  # unchanged paragraphs shown on each side of a change
_TOKEN = re.compile(r"\s+|\S+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


# ---- the document ----------------------------------------------------------------------------------------------
class DiffOp(Doc):
    """One run of a readable diff: ``equal``/``delete``/``insert`` text, or ``skip`` of unchanged paragraphs.
    Paragraphs are separated by a blank line inside ``text``. For reading, not patching: skips drop text."""

    op: Literal["equal", "delete", "insert", "skip"]
    text: str = ""
    paragraphs: Count = 0  # for skip: how many unchanged paragraphs are not shown


class FieldDiff(Doc):
    field: Field
    ops: list[DiffOp]


class VersionRef(Doc):
    """A version as the report links it: its object (``key``, relative to the archive prefix) and digest, and the
    snapshot at which it was current (``briefs article ID --at seq``)."""

    version: SeqNumber
    key: str
    sha256: Sha256
    status: Status
    seq: SeqNumber


class ArticleChange(Doc):
    """One article that moved in the window: from ``old`` (current before it) to ``new`` (current at its end)."""

    kind: Kind
    article_id: str
    url: str
    old_url: str | None  # set when the URL changed (a rename, with or without an edit)
    title: str | None
    old: VersionRef | None
    new: VersionRef
    aliases_added: list[str] = []
    fields: list[FieldDiff] = []


class ReportCounts(Doc):
    """Totals after the window (``articles``, ``live``, ``gone``), then what moved in it, net."""

    articles: Count
    live: Count
    gone: Count
    new: Count
    edited: Count
    renamed: Count
    aliased: Count
    restored: Count
    removed: Count
    superseded: Count  # stale observations the commits dropped (summed over the window's manifests)


class ChangeReport(Doc):
    """What changed between snapshot ``since`` (0: before the first) and snapshot ``seq``."""

    format: Literal["insight-briefs-changes/1"]
    site: str
    seq: SeqNumber
    since: Count
    snapshots: list[SeqNumber]
    created_at: str
    counts: ReportCounts
    articles: list[ArticleChange]


decoder(ChangeReport)  # built now, at import (see documents.decoder)


# ---- word-level diffs ------------------------------------------------------------------------------------------
def word_ops(old: str, new: str) -> list[DiffOp]:
    """difflib over words and the whitespace between them, so spacing and paragraph breaks survive."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=len(a) * len(b) > 4_000_000)
    runs: list[tuple[str, str]] = []  # ("=", text) or (deleted, inserted)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            runs.append(("=", "".join(a[i1:i2])))
        else:
            runs.append(("".join(a[i1:i2]), "".join(b[j1:j2])))
    return _emit(_fold_spaces(runs))


def _fold_spaces(runs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``[-a-]{+x+} [-b-]{+y+}`` reads better as ``[-a b-]{+x y+}``: fold the lone space between two replacements."""
    folded: list[tuple[str, str]] = []
    for run in runs:
        if (
            len(folded) >= 2
            and run[0] != "="
            and all(run)
            and folded[-1][0] == "="
            and not folded[-1][1].strip()
            and folded[-2][0] != "="
            and all(folded[-2])
        ):
            space = folded.pop()[1]
            deleted, inserted = folded.pop()
            run = (deleted + space + run[0], inserted + space + run[1])
        folded.append(run)
    return folded


def _emit(runs: list[tuple[str, str]]) -> list[DiffOp]:
    ops = []
    for first, second in runs:
        pairs = [("equal", second)] if first == "=" else [("delete", first), ("insert", second)]
        ops.extend(DiffOp(op=op, text=text) for op, text in pairs if text)
    return _merge(ops)


def paragraphs(text: str | None) -> list[str]:
    return [p.strip() for p in _PARAGRAPH_BREAK.split(text or "") if p.strip()]


def body_ops(old: str | None, new: str | None, context: int = CONTEXT_PARAGRAPHS) -> list[DiffOp]:
    """Paragraphs first, words inside the paragraphs that changed: a long article shows only its changed
    paragraphs with ``context`` unchanged ones around each, the rest as counted skips."""
    a, b = paragraphs(old), paragraphs(new)
    blocks: list[list[DiffOp]] = []
    codes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    for number, (tag, i1, i2, j1, j2) in enumerate(codes):
        if tag == "equal":
            same = a[i1:i2]
            head = same[:context] if number > 0 else []
            tail = same[len(same) - context :] if number < len(codes) - 1 else []
            hidden = len(same) - len(head) - len(tail)
            if hidden <= 1:  # a notice in place of one paragraph saves nothing
                blocks.extend([DiffOp(op="equal", text=p)] for p in same)
                continue
            blocks.extend([DiffOp(op="equal", text=p)] for p in head)
            blocks.append([DiffOp(op="skip", paragraphs=hidden)])
            blocks.extend([DiffOp(op="equal", text=p)] for p in tail)
        elif tag == "insert":
            blocks.extend([DiffOp(op="insert", text=p)] for p in b[j1:j2])
        elif tag == "delete":
            blocks.extend([DiffOp(op="delete", text=p)] for p in a[i1:i2])
        else:
            blocks.append(word_ops("\n\n".join(a[i1:i2]), "\n\n".join(b[j1:j2])))
    ops: list[DiffOp] = []
    for block in blocks:
        if ops:
            ops.append(DiffOp(op="equal", text="\n\n"))
        ops.extend(block)
    return _merge(ops)


def _merge(ops: list[DiffOp]) -> list[DiffOp]:
    merged: list[DiffOp] = []
    for op in ops:
        if merged and merged[-1].op == op.op != "skip":
            merged[-1] = DiffOp(op=op.op, text=merged[-1].text + op.text)
        else:
            merged.append(op)
    return merged


def field_diffs(old: Version, new: Version) -> list[FieldDiff]:
    """The fields a reader cares about, only those that changed: title, authors, dates, body."""
    before, after = _fields(old), _fields(new)
    diffs = []
    for name in ("title", "authors", "published", "modified"):
        if before[name] != after[name]:
            diffs.append(FieldDiff(field=name, ops=word_ops(before[name], after[name])))
    if paragraphs(old.text) != paragraphs(new.text):
        diffs.append(FieldDiff(field="body", ops=body_ops(old.text, new.text)))
    return diffs


def _fields(version: Version) -> dict[str, str]:
    meta = version.metadata
    if version.status != "live" or meta is None:
        return dict.fromkeys(("title", "authors", "published", "modified"), "")
    return {
        "title": meta.title or "",
        "authors": ", ".join(meta.authors),
        "published": meta.published or "",
        "modified": meta.modified or "",
    }


# ---- the change set --------------------------------------------------------------------------------------------
def build_report(archive: Archive, seq: int, since: int | None = None) -> ChangeReport:
    """What changed after snapshot ``since`` (default ``seq - 1``; 0 means before the first) up to ``seq``.
    An article that moved several times in the window appears once: from before the window to its end."""
    since = seq - 1 if since is None else since
    if not 0 <= since <= seq:
        raise ValueError(f"a window runs forward: snapshot {since} is after snapshot {seq}")
    window = list(range(since + 1, seq + 1))
    manifests = [archive.manifest(s) for s in window]
    last = manifests[-1] if manifests else archive.manifest(seq)
    before = archive.index(since) if since else {}
    after = archive.index(seq)
    moved: dict[str, int] = {}  # article id -> the snapshot that listed it last
    for manifest in manifests:
        c = manifest.changes
        for ident in (*c.new, *c.changed, *c.removed, *c.aliased):
            moved[ident] = manifest.seq
    articles = []
    for ident, listed_in in moved.items():
        if ident not in after:
            raise DamagedObject(
                f"{last.index_base.key}: article {ident} is missing, but {layout.snapshot_key(listed_in)} lists it "
                "as changed"
            )
        change = _article_change(archive, before.get(ident), after[ident], since, seq)
        if change is not None:
            articles.append(change)
    articles.sort(key=lambda a: (KIND_ORDER.index(a.kind), len(a.article_id), a.article_id))
    kinds = {kind: sum(a.kind == kind for a in articles) for kind in KIND_ORDER}
    counts = ReportCounts(
        articles=last.counts.articles,
        live=last.counts.live,
        gone=last.counts.gone,
        superseded=sum(m.counts.superseded for m in manifests),
        **kinds,
    )
    return ChangeReport(
        format=REPORT_FORMAT,
        site=last.site,
        seq=seq,
        since=since,
        snapshots=window,
        created_at=last.created_at,
        counts=counts,
        articles=articles,
    )


def _article_change(
    archive: Archive, old: IndexEntry | None, new: IndexEntry, since: int, seq: int
) -> ArticleChange | None:
    """Classify one article by where it was before the window and where it is at its end (None: no net change)."""
    new_ref = _ref(new, seq)
    old_ref = _ref(old, since) if old is not None else None
    common = {"article_id": new.article_id, "old": old_ref, "new": new_ref}
    if old is None:
        kind = "new" if new.status == "live" else "removed"
        return ArticleChange(kind=kind, url=new.url, old_url=None, title=new.title, **common)
    old_url = old.url if old.url != new.url else None
    if new.status == "gone":
        if old.status == "gone":
            return None
        return ArticleChange(kind="removed", url=old.url, old_url=None, title=old.title, **common)
    if old.sha256 != new.sha256:
        kind = "restored" if old.status == "gone" else "edited"
        fields = field_diffs(archive.version(old), archive.version(new))
        return ArticleChange(
            kind=kind, url=new.url, old_url=old_url, title=new.title, fields=fields, **common
        )
    added = sorted(set(new.aliases) - set(old.aliases) - {old.url})
    if old_url is None and not added:
        return None  # e.g. only superseded observations, or a change undone within the window
    kind = "renamed" if old_url else "aliased"
    return ArticleChange(
        kind=kind, url=new.url, old_url=old_url, title=new.title, aliases_added=added, **common
    )


def _ref(entry: IndexEntry, seq: int) -> VersionRef:
    return VersionRef(version=entry.version, key=entry.key, sha256=entry.sha256, status=entry.status, seq=seq)


# ---- stored reports --------------------------------------------------------------------------------------------
def report_json(report: ChangeReport) -> bytes:
    """Canonical JSON (sorted keys): equal reports are equal bytes."""
    return encode(report)


def parse_report(data: bytes, key: str, seq: int | None = None) -> ChangeReport:
    """Validate a stored report (schema, and the snapshot its key names); damage names the key."""
    report = decode(ChangeReport, data, key)
    if seq is not None and report.seq != seq:
        raise DamagedObject(f"{key}: is the report of snapshot {report.seq}, expected {seq}")
    return report


def read_report(bucket: Bucket, seq: int) -> ChangeReport:
    from .verified import fetch

    key = layout.report_key(seq, "json")
    return parse_report(fetch(bucket, key, f"the report of snapshot {seq}"), key, seq)


def publish_report(bucket: Bucket, seq: int) -> dict:
    """Write ``reports/{seq}.json`` and ``reports/{seq}.html`` for one snapshot. Deterministic, so a retry writes
    the same bytes; returns a small summary (for XCom)."""
    from .archive import Archive
    from .report_html import render_html

    report = build_report(Archive(bucket), seq)
    keys = {"json": layout.report_key(seq, "json"), "html": layout.report_key(seq, "html")}
    bucket.put(keys["json"], report_json(report), "application/json")
    bucket.put(keys["html"], render_html(report).encode(), "text/html; charset=utf-8")
    return {
        "seq": seq,
        **keys,
        "articles": len(report.articles),
        "counts": msgspec.to_builtins(report.counts),
    }
