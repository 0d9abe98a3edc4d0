"""Host processes of one job: spawning, log capture, metric parsing, and stopping them."""

from __future__ import annotations

import codecs
import json
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from mlyard.runtime.metrics import LineSplitter, MetricParser
from mlyard.runtime.runner_channel import Appender, ChannelWatch

__all__ = ["HostProcess", "MetricSink", "ExitWatch", "terminate_all", "kill_tree"]

_TAIL_BYTES = 16 * 1024


class MetricSink:
    """Appends parsed metric points to the channel's ``metrics.jsonl``, which the control plane ingests."""

    def __init__(self, out: Appender) -> None:
        self._out = out

    def emit(self, host: str, name: str, value: float) -> None:
        line = json.dumps({"host": host, "name": name, "value": value, "timestamp": time.time()})
        self._out.write(line.encode() + b"\n")

    def close(self) -> None:
        self._out.close()


class ExitWatch:
    """Waits until one of some local processes exits (their pidfds), a file is written in the
    folders ``watch`` watches, or a timeout passes; a waiter that wakes for nothing costs no CPU."""

    def __init__(self, pids: list[int], watch: ChannelWatch | None = None) -> None:
        self._fds: list[int] = []
        self._live = 0
        self._poller = select.poll()
        self._watch = watch if watch is not None and watch.available else None
        for pid in pids:
            try:
                fd = os.pidfd_open(pid)
            except (AttributeError, OSError):  # no pidfds here (or the process is gone): plain timeouts
                continue
            self._fds.append(fd)
            self._poller.register(fd, select.POLLIN)
            self._live += 1
        if self._watch is not None:
            self._poller.register(self._watch.fileno(), select.POLLIN)

    @property
    def watching(self) -> bool:
        """Whether an exit wakes the waiter (some process has a pidfd)."""
        return bool(self._fds)

    def wait(self, timeout: float) -> bool:
        """True if a watched folder was written meanwhile."""
        if not self._live and self._watch is None:
            time.sleep(timeout)
            return False
        written = False
        for fd, events in self._poller.poll(timeout * 1000):
            if self._watch is not None and fd == self._watch.fileno():
                if events & (select.POLLNVAL | select.POLLERR):  # the watch was closed: poll from now on
                    self._poller.unregister(fd)
                    self._watch = None
                    continue
                self._watch.drain()
                written = True
            else:  # ended: its exit is seen by the caller's poll; do not wake for it again
                self._poller.unregister(fd)
                self._live -= 1
        return written

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        self._live = 0
        self._poller = select.poll()
        self._watch = None


class HostProcess:
    """One host: a process whose stdout and stderr go to ``log`` and through the metric
    regexes; the tail of stderr is kept for the failure reason.

    The host runs in its own process group (and, sandboxed, its own control group): when its entry
    point exits, whatever it started is killed with it, as a container's processes end with the
    container, and its output is read until then, never waited for on pipes a leftover holds."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], cwd: str | None, log: Appender,
                 parser: MetricParser, sink: MetricSink | None, wrapped: bool, pass_fds: tuple[int, ...] = (),
                 cgroup: Any = None) -> None:
        self.name = name
        self.cmd = cmd
        self.wrapped = wrapped  # under bubblewrap: signal the children, not bwrap itself
        self.cgroup = cgroup    # a compute.cgroups.HostCgroup, or None
        self.stderr_tail = bytearray()
        self._log = log
        self._parser = parser
        self._sink = sink
        self._closing = threading.Event()
        self._closing_deadline = 0.0
        self._cleaned = False
        if cgroup is not None:
            cmd = cgroup.wrap(cmd)  # joins the group before anything of the host runs
        self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True, pass_fds=pass_fds)
        self._exit = ExitWatch([self.proc.pid])
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, False), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, True), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _pump(self, pipe: object, is_stderr: bool) -> None:
        fd = pipe.fileno()  # type: ignore[attr-defined]
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        splitter = LineSplitter()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        # The log gets whole lines of each stream (stdout's and stderr's never cut into each other's);
        # a line still being written goes out after 0.1 s of quiet, or when it passes 64 KiB.
        partial = b""
        while True:
            # Once the host has ended, what is already in the pipe is read (for a second at most),
            # then no more is waited for.
            ready = poller.poll(100)
            if self._closing.is_set() and (not ready or time.monotonic() > self._closing_deadline):
                break
            if not ready:
                if partial:
                    self._log.write(partial)
                    partial = b""
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data = partial + chunk if partial else chunk
            cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
            if cut == 0 and len(data) > 65536:
                cut = len(data)
            if cut:
                self._log.write(data[:cut])
            partial = data[cut:]
            if is_stderr:
                self.stderr_tail += chunk
                del self.stderr_tail[:-_TAIL_BYTES]
            if self._parser:
                for line in splitter.feed(decoder.decode(chunk)):
                    self._parse(line)
        if partial:
            self._log.write(partial)
        if self._parser:
            for line in splitter.flush():
                self._parse(line)

    def _parse(self, line: str) -> None:
        for name, value in self._parser.parse(line):
            if self._sink is not None:
                self._sink.emit(self.name, name, value)

    def poll(self) -> int | None:
        code = self.proc.poll()
        if code is not None and not self._cleaned:
            self.kill_leftovers()
        return code

    def kill_leftovers(self) -> None:
        """The entry point has ended: SIGKILL what it left running (its process group, its control
        group), so that nothing of the host outlives it."""
        self._cleaned = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.cgroup is not None:
            self.cgroup.kill()

    def end(self) -> None:
        """Make sure the host and everything it started are gone."""
        if self.proc.poll() is None:
            self.signal(signal.SIGKILL)
            self.proc.wait()
        self._exit.close()
        if not self._cleaned:
            self.kill_leftovers()

    def finish(self) -> None:
        """Read the host's output to the end (after ``end``)."""
        deadline = time.monotonic() + 2.0
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        self._closing_deadline = time.monotonic() + 1.0
        self._closing.set()  # a process outside our reach holds the pipes: stop reading them
        for t in self._threads:
            t.join(timeout=1.0)
        self._log.close()

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the entry point to exit (woken by its pidfd at once;
        ``Popen.wait`` would look up to 20 times a second)."""
        if self.proc.poll() is not None:
            return
        if self._exit.watching:
            self._exit.wait(timeout)
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass

    def signal(self, sig: int) -> None:
        """SIGKILL goes to the whole process tree; other signals, as ``docker stop`` does, to the
        entry point alone (under bubblewrap: the first process that is not bwrap), which may pass
        them on to its workers (torchrun, say)."""
        import psutil

        try:
            top = psutil.Process(self.proc.pid)
            if sig == signal.SIGKILL:
                kill_tree(top)
                return
            targets = [top]
            while self.wrapped and targets and all(p.name() == "bwrap" for p in targets):
                targets = [c for p in targets for c in p.children()]
        except psutil.Error:
            return
        for p in targets:
            try:
                p.send_signal(sig)
            except psutil.Error:
                pass


def kill_tree(root: Any, include_root: bool = True, wait: float = 0.0) -> None:
    """SIGKILL the psutil process ``root`` (first, so it starts nothing new) and everything below
    it; wait up to ``wait`` seconds for them to go."""
    import psutil

    try:
        tree = [root] if include_root else []
        tree += root.children(recursive=True)
    except psutil.Error:
        pass
    for p in tree:
        try:
            p.kill()
        except psutil.Error:
            pass
    if wait:
        psutil.wait_procs(tree, timeout=wait)


def terminate_all(hosts: list[Any], grace: float, on_kill: Callable[[str], None] | None = None) -> None:
    """SIGTERM every live host, then SIGKILL whatever is still running after ``grace`` seconds."""
    live = [h for h in hosts if h.poll() is None]
    for h in live:
        h.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(h.poll() is None for h in live):
        time.sleep(0.05)
    for h in live:
        if h.poll() is None:
            if on_kill:
                on_kill(h.name)
            h.signal(signal.SIGKILL)
    for h in live:
        h.wait(timeout=10)
