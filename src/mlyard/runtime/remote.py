"""Hosts on other machines: the runner's side (``RemoteHost``) and the host agent's
(``python -m mlyard.runtime.remote CHANNEL HOST WORK_DIR``).

When the executor places a host on another machine than the job's runner (``placement.json`` in
the runner channel says so), the runner still prepares that host's ``/opt/ml`` and command as for
any host, then hands them over through the channel, which is all the two machines share:

- the runner writes ``hosts/<host>/layout.tar.gz`` (the host's files and the job's hosts file) and
  then ``hosts/<host>/command.json`` (command, environment, working directory, and the runner's work
  directory, which the agent's replaces in every path);
- the agent, started by the executor on the host's machine, waits for them, unpacks, runs the
  command as a local host (process group, log capture into ``logs/<host>.log``), obeys
  ``hosts/<host>/signal`` (SIGTERM, SIGKILL) and, once the command has ended, writes what the host
  wrote (``hosts/<host>/result.tar.gz``: files new or changed since the hand-over) and then
  ``hosts/<host>/exit.json`` (exit code, the tail of stderr);
- the runner's ``RemoteHost`` looks like a local ``HostProcess`` to the supervision: ``poll``
  reads ``exit.json`` (and parses metrics from the log as it grows), ``signal`` writes the signal
  object, ``finish`` unpacks the result into the host's folder, so publishing finds the model and
  outputs where it finds a local host's.
"""

from __future__ import annotations

import codecs
import json
import os
import signal
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

from mlyard.runtime.hosts import HostProcess, MetricSink
from mlyard.runtime.metrics import LineSplitter, MetricParser
from mlyard.runtime.runner_channel import RunnerChannel

__all__ = ["RemoteHost", "agent_main", "HANDOVER_TIMEOUT"]

# How long an agent waits for its host's hand-over, and a runner for a result after the host ended.
HANDOVER_TIMEOUT = float(os.environ.get("MLYARD_HANDOVER_TIMEOUT", "600"))
_RESULT_TIMEOUT = 120.0
_SKIP = ("input/data/",)  # inputs are not sent back


def _key(host: str, name: str) -> str:
    return f"hosts/{host}/{name}"


class RemoteHost:
    """A host run by an agent on another machine, seen through the runner channel."""

    def __init__(self, channel: RunnerChannel, name: str, cmd: list[str], env: dict[str, str], cwd: str | None,
                 wrapped: bool, host_dir: Path, work_dir: Path, parser: MetricParser, sink: MetricSink) -> None:
        self.channel = channel
        self.name = name
        self.cmd = cmd
        self.cgroup = None
        self.stderr_tail = bytearray()
        self.host_dir = host_dir
        self._parser = parser
        self._sink = sink
        self._splitter = LineSplitter()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._log_offset = 0
        self._code: int | None = None
        self._signals = 0
        self._next_look = 0.0
        self.watched = False  # the runner sees the agent's writes here through inotify (ChannelWatch)
        self._every = _poll_every(channel, 0.0)
        self._since = time.monotonic()
        self._finished = False
        archive = work_dir / "work" / f"{name}-layout.tar.gz"
        archive.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
            tar.add(host_dir, arcname=str(host_dir.relative_to(work_dir)))
            hosts_file = work_dir / "work" / "hosts"
            if hosts_file.exists():
                tar.add(hosts_file, arcname="work/hosts")
        channel.put(_key(name, "layout.tar.gz"), archive.read_bytes())
        channel.put(_key(name, "command.json"), json.dumps(
            {"cmd": cmd, "env": env, "cwd": cwd, "wrapped": wrapped, "work_dir": str(work_dir)}).encode())

    def _read_log(self) -> None:
        while True:
            data = self.channel.read(f"logs/{self.name}.log", self._log_offset, 1 << 20)
            if not data:
                return
            self._log_offset += len(data)
            if self._parser:
                for line in self._splitter.feed(self._decoder.decode(data)):
                    for metric, value in self._parser.parse(line):
                        self._sink.emit(self.name, metric, value)

    def poll(self) -> int | None:
        if self._code is not None:
            return self._code
        now = time.monotonic()
        if now < self._next_look:
            return None
        self._every = 0.25 if self.watched else _poll_every(self.channel, now - self._since)
        self._next_look = now + self._every
        self._read_log()
        data = self.channel.get(_key(self.name, "exit.json"))
        if data is None:
            return None
        done = json.loads(data)
        self.stderr_tail = bytearray(done.get("stderr_tail", "").encode())
        self._read_log()
        self._unpack()  # before the code is told: a failure reason reads the host's files
        self._code = int(done["code"])
        return self._code

    def look_now(self) -> None:
        """Something was written in the host's folder: the next ``poll`` reads the channel."""
        self._next_look = 0.0

    def signal(self, sig: int) -> None:
        # Signalled (a stop, a failed host, max_run): its end is awaited, and looked for as often
        # as where unwatched, so that a host ending within its grace period is seen to.
        self.watched = False
        self.look_now()
        self._signals += 1
        self.channel.put(_key(self.name, "signal"), json.dumps({"signal": int(sig), "seq": self._signals}).encode())

    def kill_leftovers(self) -> None:
        """The agent ends what the host left behind on its machine."""

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(self._every)

    def end(self) -> None:
        if self.poll() is None:
            self.signal(signal.SIGKILL)
        self.wait(_RESULT_TIMEOUT)

    def finish(self) -> None:
        for line in self._splitter.flush():
            for metric, value in self._parser.parse(line) if self._parser else []:
                self._sink.emit(self.name, metric, value)

    def _unpack(self) -> None:
        """Unpack what the host wrote into its folder here (once)."""
        if self._finished:
            return
        self._finished = True
        from mlyard.store.archive import extract_tar

        data = self.channel.get(_key(self.name, "result.tar.gz"))
        if data:
            archive = self.host_dir.parent / f".{self.name}-result.tar.gz"
            archive.write_bytes(data)
            try:
                extract_tar(archive, self.host_dir)
            finally:
                archive.unlink(missing_ok=True)


def _poll_every(channel: RunnerChannel, running: float) -> float:
    """How often a side looks at the channel for the other's news (an exit, a signal): often while
    the host is young (short jobs end fast), less once it has run a while, so that a long job's
    watchers leave the CPUs to it; an object store is asked twice a second."""
    if channel.local is None:
        return 0.5
    return 0.02 if running < 2.0 else 0.05


# -- the agent ------------------------------------------------------------------------------------
def _wait_for(channel: RunnerChannel, name: str, stop: threading.Event, timeout: float) -> bytes | None:
    deadline = time.monotonic() + timeout
    every = 0.02 if channel.local is not None else 0.5
    while not stop.is_set() and time.monotonic() < deadline:
        data = channel.get(name)
        if data is not None:
            return data
        time.sleep(every)
    return None


def _rewrite(value: str, old: str, new: str) -> str:
    return value.replace(old, new) if old and old != new else value


def _stamps(root: Path) -> dict[str, tuple[int, int]]:
    """Each file under ``root`` but the inputs: relative path -> (mtime, size)."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            path = Path(dirpath) / f
            rel = path.relative_to(root).as_posix()
            if rel.startswith(_SKIP):
                continue
            try:
                st = path.lstat()
            except OSError:
                continue  # removed meanwhile
            out[rel] = (st.st_mtime_ns, st.st_size)
    return out


def agent_main(argv: list[str]) -> int:
    channel_location, host, work = argv[0], argv[1], Path(argv[2])
    channel = RunnerChannel(channel_location)
    work.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    command = _wait_for(channel, _key(host, "command.json"), stop, HANDOVER_TIMEOUT)
    if command is None:
        return 1
    spec = json.loads(command)
    layout = channel.get(_key(host, "layout.tar.gz"))
    if layout is None:
        return 1
    from mlyard.store.archive import extract_tar

    archive = work / f".{host}-layout.tar.gz"
    archive.write_bytes(layout)
    extract_tar(archive, work)
    archive.unlink()
    old = spec["work_dir"]
    new = str(work)
    host_dir = work / "hosts" / host
    before = _stamps(host_dir)
    cmd = [_rewrite(a, old, new) for a in spec["cmd"]]
    env = {k: _rewrite(v, old, new) for k, v in spec["env"].items()}
    cwd = _rewrite(spec["cwd"], old, new) if spec.get("cwd") else None
    proc = HostProcess(host, cmd, env, cwd, channel.appender(f"logs/{host}.log"), MetricParser([]), None,
                       bool(spec.get("wrapped")))
    seen = 0
    began = time.monotonic()
    while proc.poll() is None:
        raw = channel.get(_key(host, "signal"))
        if raw is not None:
            order: dict[str, Any] = json.loads(raw)
            if order["seq"] != seen:
                seen = order["seq"]
                proc.signal(int(order["signal"]))
        if stop.is_set():
            proc.signal(signal.SIGKILL)
        proc.wait(_poll_every(channel, time.monotonic() - began))  # the host's exit is seen at once
    proc.end()
    proc.finish()
    code = proc.poll()
    result = work / f".{host}-result.tar.gz"
    with tarfile.open(result, "w:gz", compresslevel=1) as tar:
        for rel, stamp in _stamps(host_dir).items():
            if before.get(rel) != stamp:  # new or changed since the hand-over
                tar.add(host_dir / rel, arcname=rel)
    channel.put(_key(host, "result.tar.gz"), result.read_bytes())
    channel.put(_key(host, "exit.json"), json.dumps(
        {"code": code, "stderr_tail": proc.stderr_tail.decode(errors="replace")}).encode())
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    from mlyard.runtime.remote import agent_main as _main

    sys.exit(_main(sys.argv[1:]))
