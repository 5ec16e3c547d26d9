"""What the stack tests (test_stack, test_distributed) say to a running stack: its REST API, a backfill request, and
the listening sockets they check it against."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path


def api(
    stack, method: str, path: str, body: dict | None = None, token: str | None = None
) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack["api"] + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def token(stack) -> str:
    status, body = api(stack, "POST", "/auth/token", {"username": "admin", "password": stack["password"]})
    assert status in (200, 201), body
    return body["access_token"]


def backfill_body(dag_id: str, first_day: str, last_day: str, max_active_runs: int) -> dict:
    """``POST /api/v2/backfills``: every day from first_day to last_day (YYYY-MM-DD, UTC), oldest first."""
    return {
        "dag_id": dag_id,
        "from_date": f"{first_day}T00:00:00Z",
        "to_date": f"{last_day}T23:59:00Z",
        "max_active_runs": max_active_runs,
        "reprocess_behavior": "completed",
        "run_backwards": False,
        "dag_run_conf": {},
    }


def create_backfill(stack, body: dict, attempts: int = 6) -> tuple[int, dict]:
    """``POST /api/v2/backfills``. On SQLite (the default stack) Airflow refuses with 503 "Database is locked"
    while the scheduler writes; a retry a moment later succeeds (Airflow names PostgreSQL, the distributed stack's
    database, as the cure)."""
    for _ in range(attempts):
        status, reply = api(stack, "POST", "/api/v2/backfills", body, token=token(stack))
        if status != 503 or "Database is locked" not in str(reply.get("detail")):
            break
        time.sleep(2)
    return status, reply


def listening_sockets() -> dict[int, str]:
    """inode -> "address:port" of every listening TCP socket (IPv4 and IPv6), from /proc/net."""
    found = {}
    for name, family in (("tcp", 4), ("tcp6", 6)):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            address, port = fields[1].split(":")
            if family == 4:
                host = ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
            else:
                host = (
                    "::1"
                    if address == "0" * 24 + "01000000"
                    else ("::" if set(address) == {"0"} else address)
                )
            found[int(fields[9])] = f"{host}:{int(port, 16)}"
    return found


def held_sockets(pids: set[int]) -> list[tuple[str, int]]:
    """(address:port, pid) of each listening TCP socket the processes hold, from their /proc fds."""
    sockets, held = listening_sockets(), []
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in sockets:
                held.append((sockets[int(target[8:-1])], pid))
    return held
