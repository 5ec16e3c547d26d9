"""What a supervised program records of its process group, and when that record still names its processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from infra import supervisor

REPO = Path(__file__).resolve().parent.parent

LEADER = """
import subprocess, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from infra.supervisor import record_group
record_group(Path({pid_file!r}))
subprocess.Popen(["sleep", "60"])  # outlives its leader, as a killed scheduler's workers would
"""


def test_a_record_names_the_groups_leftovers_and_only_in_this_boot(tmp_path):
    pid_file = tmp_path / "scheduler.pid"
    code = LEADER.format(repo=str(REPO), pid_file=str(pid_file))
    leader = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    leader.wait()
    time.sleep(0.2)
    left = supervisor.leftovers(pid_file)
    try:
        assert len(left) == 1, left
        pgid, boot, start = pid_file.read_text().split()
        assert int(pgid) == leader.pid and boot
        assert supervisor.leftovers(pid_file, spare=int(pgid)) == [], "never the caller's own group"
        pid_file.write_text(f"{pgid} another-boot {start}\n")
        assert supervisor.leftovers(pid_file) == [], "a record from before a reboot names nobody"
        pid_file.write_text(f"{pgid} {boot} {int(start) + 10**9}\n")
        assert supervisor.leftovers(pid_file) == [], "processes older than the record are someone else's"
        pid_file.write_text(f"{pgid}\n")
        assert supervisor.leftovers(pid_file) == [], "a malformed record names nobody"
    finally:
        supervisor._kill_all(left, 9)
    deadline = time.monotonic() + 5
    pid_file.write_text(f"{pgid} {boot} {start}\n")
    while supervisor.leftovers(pid_file) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert supervisor.leftovers(pid_file) == [], "a killed (zombie) process is no leftover"
