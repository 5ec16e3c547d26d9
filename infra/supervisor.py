"""The local stack's processes under supervisord: restarts with backoff, rotated logs, one place to ask for state.

supervisord (PyPI ``supervisor``) listens only on a unix socket in a 0700 directory of the stack; no inet server.
Each program starts through this file's ``exec`` (stdlib only, run with ``python -I -S``), which

- kills what the program's previous incarnation left behind: a ``kill -9`` of the scheduler orphans its
  LocalExecutor workers, which would idle forever. They keep its process group (supervisord makes each program
  a group leader), recorded in ``pids/<name>.pid``; the environment supervisord gives its children is no help,
  as ``setproctitle`` overwrites what /proc shows of it;
- loads the program's full environment from a 0600 JSON file, so secrets never appear in supervisord.conf or on
  a command line; the file name carries a digest of the environment, so a changed environment is a changed
  command, which ``reloadConfig`` notices and the program restarts for;
- then execs the program: supervisord signals, watches and restarts the real process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

SERVICES, APPS = 10, 100  # supervisord priorities: storage and databases start first
LOG_MAX_BYTES, LOG_BACKUPS = "10MB", 5
START_SECS, START_RETRIES = 2, 8  # a crash within 2 s is a failed start; retries back off 1, 2, ... 8 s


@dataclass(frozen=True)
class Program:
    """One supervised process."""

    name: str  # supervisord program name, e.g. "scheduler", "celery-worker-1"
    command: list[str]  # argv with an absolute executable
    env: Mapping[str, str]  # the full environment of the process
    cwd: Path
    port: int | None = None  # shown by `status`
    stop_signal: str = "TERM"
    stop_wait_secs: int = 3


@dataclass(frozen=True)
class State:
    name: str
    state: str  # RUNNING, STARTING, BACKOFF, STOPPED, EXITED, FATAL, ...
    pid: int
    uptime: float  # seconds; 0 when not running
    port: int | None


class SupervisorError(RuntimeError):
    pass


class Supervisor:
    """supervisord for one stack directory: its socket, pid file, config and program registry live in
    ``<stack>/supervisor/`` (0700), the logs of it and of every program in ``<stack>/logs/``."""

    def __init__(self, stack_dir: Path):
        self.stack_dir = stack_dir
        self.home = stack_dir / "supervisor"
        self.logs = stack_dir / "logs"
        self.socket = self.home / "supervisord.sock"
        self.pidfile = self.home / "supervisord.pid"
        self.conf = self.home / "supervisord.conf"
        self.registry = self.home / "programs.json"
        self.pids = self.home / "pids"  # each program's last process group, written by `exec`
        self.since = time.time()  # a program started after this was started by this call

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    # ---- supervisord itself ---------------------------------------------------------------------------------
    def rpc(self):
        from supervisor.xmlrpc import SupervisorTransport

        return xmlrpc.client.ServerProxy(
            "http://127.0.0.1", transport=SupervisorTransport(None, None, self.url)
        ).supervisor

    def pid(self) -> int | None:
        """supervisord's pid when it answers on its socket."""
        if not self.socket.exists():
            return None
        try:
            return int(self.rpc().getPID())
        except (OSError, xmlrpc.client.Error):
            return None

    def _start_daemon(self, timeout: float = 30) -> list[str]:
        swept = self.sweep_orphans()  # a crashed supervisord leaves its children running, holding the ports
        binary = Path(sys.executable).parent / "supervisord"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": os.environ.get("LANG", "C.UTF-8")}
        subprocess.run([str(binary), "-c", str(self.conf)], env=env, check=True, cwd=self.stack_dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid():
                return swept
            time.sleep(0.1)
        tail = _tail(self.logs / "supervisord.log")
        raise SupervisorError(f"supervisord did not answer on {self.socket} within {timeout:.0f}s:\n{tail}")

    # ---- programs ---------------------------------------------------------------------------------------------
    def ensure(self, programs: Sequence[Program], priority: int = APPS, timeout: float = 60) -> list[str]:
        """Make these programs run (adding them to the configuration); programs already running with the same
        configuration are left alone. Returns one line per program saying what happened."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        self.logs.mkdir(parents=True, exist_ok=True)
        registry = self._read_registry()
        for program in programs:
            registry[program.name] = {**self._entry(program), "priority": priority}
        self._write_registry(registry)
        self.conf.write_text(self._render(registry))
        self.conf.chmod(0o600)
        changed: set[str] = set()
        said = []
        if not self.pid():
            said = self._start_daemon()
            new = {p.name for p in programs}
        else:
            added, changed_list, _removed = self.rpc().reloadConfig()[0]
            new, changed = set(added), set(changed_list)
            for group in changed_list:
                self.rpc().stopProcessGroup(group)
                self.rpc().removeProcessGroup(group)
            for group in [*added, *changed_list]:
                self.rpc().addProcessGroup(group)
        return said + [self._await(p.name, p.name in new, p.name in changed, timeout) for p in programs]

    def _await(self, name: str, new: bool, changed: bool, timeout: float) -> str:
        info = self.rpc().getProcessInfo(name)
        if info["statename"] == "RUNNING" and not (new or changed) and info["start"] < self.since:
            return f"{name} already running (pid {info['pid']})"
        if info["statename"] in ("STOPPED", "EXITED", "FATAL"):
            self.rpc().startProcess(name, False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.rpc().getProcessInfo(name)
            if info["statename"] == "RUNNING":
                verb = "restarted (configuration changed)" if changed else "started"
                return f"{name} {verb} (pid {info['pid']})"
            if info["statename"] == "FATAL":
                break
            time.sleep(0.2)
        raise SupervisorError(f"{name} did not start ({info['statename']}):\n{_tail(self.log(name))}")

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def states(self) -> list[State]:
        """Every registered program, in start order; all STOPPED when supervisord is not running."""
        registry = self._read_registry()
        infos = {}
        if self.pid():
            infos = {i["name"]: i for i in self.rpc().getAllProcessInfo()}
        found = []
        for name, entry in sorted(registry.items(), key=lambda item: (item[1]["priority"], item[0])):
            info = infos.get(name, {})
            running = info.get("statename") == "RUNNING"
            found.append(
                State(
                    name=name,
                    state=info.get("statename", "STOPPED"),
                    pid=info.get("pid", 0),
                    uptime=max(0.0, info["now"] - info["start"]) if running else 0.0,
                    port=entry.get("port"),
                )
            )
        return found

    def stop(self, timeout: float = 30) -> list[str]:
        """Stop every program at once, then supervisord; sweep anything left behind.

        All at once, and supervisord told to shut down while they stop: Airflow's processes linger seconds
        after their graceful exit (each is SIGKILLed with its group after ``stop_wait_secs``), and stopping
        one after another, storage last, would add up for nothing (a task cut off mid-write is retried, and
        commits are atomic)."""
        stopped = []
        daemon = self.pid()
        if daemon:
            rpc = self.rpc()
            for info in rpc.getAllProcessInfo():
                if info["statename"] in ("RUNNING", "STARTING", "BACKOFF"):
                    rpc.stopProcess(info["name"], False)  # no wait: all stop in parallel
                    stopped.append(f"stopped {info['name']} (pid {info['pid']})")
            rpc.shutdown()
            _wait_gone(daemon, timeout)
        stopped += self.sweep_orphans()
        self.socket.unlink(missing_ok=True)
        return stopped

    def sweep_orphans(self) -> list[str]:
        """Kill what a dead supervisord of this stack left running: the processes of the groups its programs last
        ran in (SIGTERM, SIGKILL 3 s later). Only while supervisord is down: it owns them otherwise. A record from
        another boot, or a group number the system has since given to other processes, kills nothing."""
        found = {pid_file.stem: leftovers(pid_file) for pid_file in self.pids.glob("*.pid")}
        found = {name: pids for name, pids in found.items() if pids}
        for pids in found.values():
            _kill_all(pids, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(_alive(p) for pids in found.values() for p in pids):
            time.sleep(0.05)
        for pids in found.values():
            _kill_all(pids, signal.SIGKILL)
        for pid_file in self.pids.glob("*.pid"):
            pid_file.unlink()
        return [
            f"stopped what {name} left running (pids {', '.join(map(str, pids))})"
            for name, pids in found.items()
        ]

    # ---- configuration ----------------------------------------------------------------------------------------
    def _entry(self, program: Program) -> dict:
        env = dict(sorted(program.env.items()))
        digest = hashlib.sha256(json.dumps(env).encode()).hexdigest()[:12]
        env_dir = self.home / "env"
        env_dir.mkdir(mode=0o700, exist_ok=True)
        env_file = env_dir / f"{program.name}.{digest}.json"
        if not env_file.exists():
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(env, out)
        for stale in env_dir.glob(f"{program.name}.*.json"):
            if stale != env_file:
                stale.unlink()
        entry = asdict(program)
        entry.update(cwd=str(program.cwd), env=str(env_file))
        return entry

    def _render(self, registry: dict) -> str:
        q = _quote
        lines = [
            "; written by infra.stack on every `up`; edits are overwritten",
            "[unix_http_server]",
            f"file={q(self.socket)}",
            "chmod=0700",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "[supervisorctl]",
            f"serverurl={q(self.url)}",
            "[supervisord]",
            f"logfile={q(self.logs / 'supervisord.log')}",
            f"logfile_maxbytes={LOG_MAX_BYTES}",
            f"logfile_backups={LOG_BACKUPS}",
            f"pidfile={q(self.pidfile)}",
            f"directory={q(self.stack_dir)}",
            f"childlogdir={q(self.logs)}",
            "identifier=insight-briefs",
        ]
        for name, e in sorted(registry.items()):
            shim = [sys.executable, "-I", "-S", __file__, "exec", e["env"], *e["command"]]
            lines += [
                f"[program:{name}]",
                f"command={q(shlex.join(shim))}",
                f"directory={q(e['cwd'])}",
                f"priority={e['priority']}",
                "autostart=true",
                "autorestart=true",
                f"startsecs={START_SECS}",
                f"startretries={START_RETRIES}",
                f"stopsignal={e['stop_signal']}",
                f"stopwaitsecs={e['stop_wait_secs']}",
                "stopasgroup=true",
                "killasgroup=true",
                "redirect_stderr=true",
                f"stdout_logfile={q(self.log(name))}",
                f"stdout_logfile_maxbytes={LOG_MAX_BYTES}",
                f"stdout_logfile_backups={LOG_BACKUPS}",
            ]
        return "\n".join(lines) + "\n"

    def _read_registry(self) -> dict:
        try:
            return json.loads(self.registry.read_text())
        except FileNotFoundError:
            return {}

    def _write_registry(self, registry: dict) -> None:
        self.registry.write_text(json.dumps(registry, indent=1))
        self.registry.chmod(0o600)


def _quote(value: object) -> str:
    """supervisord expands %(name)s in values: a literal % is %%."""
    return str(value).replace("%", "%%")


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _group_and_start(pid: int) -> tuple[int, int] | None:
    """A live process's group and start time (clock ticks since boot), from /proc/<pid>/stat; None for a
    zombie (dead, waiting to be reaped) or a process that is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
    return None if fields[0] == "Z" else (int(fields[2]), int(fields[19]))


def record_group(pid_file: Path) -> None:
    """Record this process's group as ``pgid boot-id start-time``: enough to tell later whether processes in a
    group of that number are still this program's, not others' that were given the number since."""
    pgid = os.getpgid(0)
    started = _group_and_start(os.getpid())  # the leader, or this process if the leader is gone
    pid_file.write_text(f"{pgid} {_boot_id()} {started[1] if started else 0}\n")


def leftovers(pid_file: Path, spare: int | None = None) -> list[int]:
    """The live processes of the group recorded in `pid_file` that began with it or later (never `spare`'s
    group): none for a missing or malformed record, or one from another boot."""
    try:
        pgid_text, boot, start_text = pid_file.read_text().split()
        pgid, start = int(pgid_text), int(start_text)
    except (OSError, ValueError):
        return []
    if boot != _boot_id() or pgid == spare:
        return []
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            facts = _group_and_start(int(entry.name))
            if facts and facts[0] == pgid and facts[1] >= start:
                pids.append(int(entry.name))
    return pids


def _kill_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _exec(env_file: str, argv: list[str]) -> None:
    """Run as supervisord's command (stdlib only): kill what this program's previous run left in its process
    group, record this one, then become the program."""
    env = json.loads(Path(env_file).read_text())
    mine = {k: v for k, v in os.environ.items() if k.startswith("SUPERVISOR_")}
    pid_file = Path(env_file).parent.parent / "pids" / f"{mine.get('SUPERVISOR_PROCESS_NAME', 'unknown')}.pid"
    pid_file.parent.mkdir(mode=0o700, exist_ok=True)
    left = leftovers(pid_file, spare=os.getpgid(0))
    if left:
        _kill_all(left, signal.SIGKILL)
        print(f"killed what the previous run left running: pids {', '.join(map(str, left))}", flush=True)
    record_group(pid_file)
    os.execve(argv[0], argv, {**env, **mine})


def _tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return f"(no log at {path})"


def _wait_gone(pid: int | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while pid and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


if __name__ == "__main__" and sys.argv[1:2] == ["exec"]:
    _exec(sys.argv[2], sys.argv[3:])
