"""SeaweedFS servers side by side, as on a developer's machine: the test session's server, a second one started here,
and the ports a running default stack (`python -m infra.stack up`) and a stock `weed mini` hold. Each server commits
and verifies a real snapshot. The second server also finds another SeaweedFS installation's configuration where
`weed` looks for it (~/.seaweedfs, WEED_* variables): that master.toml grows 7 volumes per bucket, which ran a test
session out of volumes (PutObject: InternalError), and that filer.toml would share one filer store between servers."""

from __future__ import annotations

import ast
import inspect
import socket
import stat
from pathlib import Path

import pytest

from infra import distributed, stack
from infra.seaweedfs import GRPC_OFFSET, SeaweedFS, ephemeral_range, free_port, free_port_block
from pipelines.archive import Archive
from pipelines.commit import commit_run
from pipelines.settings import Settings
from pipelines.storage import Bucket
from pipelines.verify import verify

# A stock `weed mini`: master, volume, filer, S3, webdav, admin, Iceberg, Lance (and the gRPC twins of the first four).
WEED_DEFAULTS = (9333, 9340, 8888, 8333, 7333, 23646, 8181, 9101)


def default_stack_ports() -> dict[str, int]:
    """What `infra.stack up` binds when BRIEFS_<NAME>_PORT is unset: the defaults of its `_port(name, default)`."""
    ports = {}
    for module in (stack, distributed):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "_port"
                and len(node.args) == 2
            ):
                name, default = (ast.literal_eval(arg) for arg in node.args)
                ports[name] = default
    return ports


@pytest.fixture
def neighbours_ports():
    """Listen on the default stack's ports (S3 and its block of five with their gRPC twins, the simulator, the
    Airflow API, PostgreSQL, Redis) and a stock weed mini's, where they are free: elsewhere a neighbour has them."""
    defaults = default_stack_ports()
    assert {"S3", "SIM", "API"} <= defaults.keys(), defaults
    s3_block = range(defaults["S3"] - 3, defaults["S3"] + 2)
    ports = {*defaults.values(), *s3_block, *(p + GRPC_OFFSET for p in s3_block), *WEED_DEFAULTS}
    ports |= {p + GRPC_OFFSET for p in WEED_DEFAULTS[:4]}
    held = []
    for port in sorted(ports):
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            held.append(sock)
        except OSError:
            sock.close()
    yield ports
    for sock in held:
        sock.close()


def commit_and_verify(server: SeaweedFS, name: str, records: list[dict], warc_dir: Path) -> None:
    bucket = Bucket(Settings.from_env(server.env(bucket=name)).storage)
    bucket.ensure_bucket(versioning=True)
    result = commit_run(bucket, "neighbours", records, {"mode": "window"}, warc_dir)
    assert result.seq == 1 and result.created, result
    report = verify(bucket, full=True)
    assert report.ok and report.checked > 0, (server.endpoint, report.problems)
    archive = Archive(bucket)
    assert archive.seqs() == [1]
    texts = {archive.version(e).text for e in archive.index().values() if e.status == "live"}
    assert texts == {r["text"] for r in records if r.get("text")}, f"read back from {server.endpoint}"


def test_a_commit_beside_a_second_server_and_the_default_stack_ports(
    seaweed, cleaned, neighbours_ports, tmp_path, monkeypatch
):
    records, warc_dir = cleaned
    home = tmp_path / "home"
    (home / ".seaweedfs").mkdir(parents=True)
    shared_store = tmp_path / "another-installation-filer-store"
    (home / ".seaweedfs" / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 7\n")
    (home / ".seaweedfs" / "filer.toml").write_text(f'[leveldb2]\nenabled = true\ndir = "{shared_store}"\n')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("WEED_MASTER_VOLUME_GROWTH_COPY_1", "7")

    second = SeaweedFS(tmp_path / "second", s3_port=free_port_block() + 3)
    block = range(second.s3_port - 3, second.s3_port + 2)
    assert neighbours_ports.isdisjoint([*block, *(p + GRPC_OFFSET for p in block)])
    second.start()
    try:
        for name in ("filer", "s3"):  # its own, not /tmp/seaweedfs-<name>-<port>.sock
            assert stat.S_ISSOCK((second.data_dir / f"{name}.sock").stat().st_mode), name
        commit_and_verify(seaweed, "neighbours-session", records, warc_dir)
        commit_and_verify(second, "neighbours-second", records, warc_dir)
        volumes = list((second.data_dir / "data").glob("*.dat"))
        assert len(volumes) < 7, (
            f"another installation's master.toml grew {len(volumes)} volumes for one bucket"
        )
        assert not shared_store.exists(), "the filer kept its own store"
    finally:
        second.stop()


def test_ports_are_chosen_below_the_ephemeral_range():
    low, high = ephemeral_range()
    for _ in range(50):
        base = free_port_block()
        ports = [*range(base, base + 5), *range(base + GRPC_OFFSET, base + GRPC_OFFSET + 5)]
        assert all(10000 <= p < low for p in ports), (base, (low, high))
        single = free_port()
        assert not low <= single <= high and single % 10 >= 5, single  # never in a block either
    assert 10000 <= free_port_block(size=1) < low


def test_a_port_named_by_a_live_seaweedfs_socket_is_not_chosen(tmp_path):
    """weed names its gRPC sockets after their port in /tmp and removes what is there before listening: a port
    another server's socket still listens under (another network namespace, another address) is not free."""
    from infra.seaweedfs import _free

    port = free_port()
    path = Path(f"/tmp/seaweedfs-neighbour-grpc-{port}.sock")
    try:
        with socket.socket(socket.AF_UNIX) as live:
            live.bind(str(path))
            live.listen()
            assert not _free(port)
        assert _free(port), "a leftover of a stopped server: weed replaces it"
    finally:
        path.unlink(missing_ok=True)
