"""The runner channel: where a job's runner and the control plane meet, with no other link.

A channel is a location: a folder on a disk both can see (``/path`` or ``file:///path``), or any
fsspec URI (``s3://bucket/prefix``), so a runner on another machine needs only the store, never
a connection to the control plane (which binds loopback) or a disk it shares. In it:

- ``spec.json``: what to run, written by the control plane before the runner starts;
- ``state.json``: what the runner reports (status, transitions, results), replaced whole, atomically;
- ``metrics.jsonl`` and ``logs/<host>.log``: appended by the runner, read from an offset by the
  control plane (an object store cannot append: there the runner's appender rewrites the object
  with what it holds, at most once per ``flush_seconds``, and at its close);
- ``stop``: the control plane's stop request, which the runner polls for;
- ``runner.log``: the runner's own output, where a local runner writes it.

Both sides only read what the other wrote whole, so either may restart at any time: a control
plane that comes back reads on from the catalog's offsets.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from pathlib import Path
from typing import IO, Any

from mlyard.store import write_atomic

__all__ = ["RunnerChannel", "Appender", "work_dir_for", "node_work_dir", "pump_to_channel", "ChannelWatch"]


class RunnerChannel:
    def __init__(self, location: str | Path) -> None:
        text = str(location)
        if text.startswith("file://"):
            text = text[len("file://"):]
        self.location = text
        self.local: Path | None = Path(text) if "://" not in text else None

    def __repr__(self) -> str:
        return f"RunnerChannel({self.location!r})"

    @property
    def uri(self) -> str:
        return f"file://{self.local}" if self.local is not None else self.location

    # -- objects ---------------------------------------------------------------------------------
    def _remote(self, name: str) -> tuple[Any, str]:
        from mlyard.store import filesystem

        fs, root = filesystem(self.location)
        return fs, f"{root.rstrip('/')}/{name}"

    def create(self) -> None:
        if self.local is not None:
            (self.local / "logs").mkdir(parents=True, exist_ok=True)

    def put(self, name: str, data: bytes) -> None:
        """Replace ``name`` whole (readers see the old object or the new one, never a part)."""
        if self.local is not None:
            path = self.local / name
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data, fsync=name == "state.json")
            return
        fs, key = self._remote(name)
        fs.pipe_file(key, data)

    def get(self, name: str) -> bytes | None:
        """``name``'s bytes, or None if there is none yet."""
        if self.local is not None:
            try:
                return (self.local / name).read_bytes()
            except FileNotFoundError:
                return None
        fs, path = self._remote(name)
        try:
            data: bytes = fs.cat_file(path)
            return data
        except FileNotFoundError:
            return None

    def read(self, name: str, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes of ``name`` from ``offset`` (empty if there are none, or no object)."""
        if self.local is not None:
            try:
                with (self.local / name).open("rb") as fh:
                    fh.seek(offset)
                    return fh.read(size)
            except FileNotFoundError:
                return b""
        fs, path = self._remote(name)
        try:
            data: bytes = fs.cat_file(path, start=offset, end=offset + size)
            return data
        except FileNotFoundError:
            return b""
        except OSError as exc:  # a range from the object's end on: nothing new yet (HTTP 416)
            if exc.errno == errno.EINVAL or "not satisfiable" in str(exc):
                return b""
            raise

    def signature(self, name: str) -> tuple[Any, ...] | None:
        """Something that changes whenever ``name`` does (None: no object), cheap to ask for."""
        if self.local is not None:
            try:
                st = (self.local / name).stat()
            except FileNotFoundError:
                return None
            return (st.st_mtime_ns, st.st_size)
        fs, path = self._remote(name)
        try:
            info = fs.info(path)
        except FileNotFoundError:
            return None
        return (info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified"),
                info.get("size"))

    def appender(self, name: str, flush_seconds: float = 1.0) -> Appender:
        return Appender(self, name, flush_seconds)

    # -- what the two sides say ------------------------------------------------------------------
    def write_spec(self, spec: dict[str, Any]) -> None:
        self.put("spec.json", json.dumps(spec).encode())

    def read_spec(self) -> dict[str, Any]:
        data = self.get("spec.json")
        if data is None:
            raise FileNotFoundError(f"no spec.json in the runner channel {self.location}")
        spec: dict[str, Any] = json.loads(data)
        return spec

    def write_state(self, state: dict[str, Any]) -> None:
        self.put("state.json", json.dumps(state).encode())

    def read_state(self) -> dict[str, Any] | None:
        data = self.get("state.json")
        if data is None:
            return None
        try:
            state: dict[str, Any] = json.loads(data)
        except ValueError:
            return None
        return state

    def request_stop(self) -> None:
        self.put("stop", json.dumps({"time": time.time()}).encode())

    def stop_requested(self) -> bool:
        return self.signature("stop") is not None

    def watch_stop(self, event: threading.Event, every: float | None = None) -> threading.Thread:
        """Set ``event`` once the control plane asks for a stop (polled every ``every`` seconds:
        50 ms on a local folder, 1 s on an object store)."""
        interval = every if every is not None else 0.05 if self.local is not None else 1.0

        def poll() -> None:
            while not event.is_set():
                try:
                    if self.stop_requested():
                        event.set()
                        return
                except Exception:  # an object store that is briefly unreachable: ask again
                    pass
                event.wait(interval)

        thread = threading.Thread(target=poll, name="stop-watch", daemon=True)
        thread.start()
        return thread


class Appender:
    """Appends to one object of a channel: in place on a local folder (each write lands at once),
    held and written whole to an object store (at most every ``flush_seconds``, and at close)."""

    def __init__(self, channel: RunnerChannel, name: str, flush_seconds: float = 1.0) -> None:
        self.channel = channel
        self.name = name
        self._lock = threading.Lock()
        self._fh = None
        self._held = bytearray()
        self._dirty = False
        self._flush_seconds = flush_seconds
        self._last = float("-inf")  # the first write goes out at once
        if channel.local is not None:
            path = channel.local / name
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("ab")
        else:
            self._held += channel.get(name) or b""  # a restarted runner appends to what is there

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.write(data)
                self._fh.flush()
                return
            self._held += data
            self._dirty = True
            if time.monotonic() - self._last >= self._flush_seconds:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            if self._fh is None:
                self._flush_locked()

    def _flush_locked(self) -> None:
        if self._dirty:
            self.channel.put(self.name, bytes(self._held))
            self._dirty = False
        self._last = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            else:
                self._flush_locked()


def work_dir_for(channel: RunnerChannel, job: str) -> Path:
    """Where a job's runner works: in its channel's folder when that is local, else in a folder of
    the temporary space of the machine it runs on (removed when the job has ended)."""
    return channel.local if channel.local is not None else node_work_dir(job)


def node_work_dir(name: str) -> Path:
    """A work folder in this machine's temporary space."""
    import tempfile

    return Path(tempfile.gettempdir()) / "mlyard-work" / name


def pump_to_channel(pipe: IO[bytes], location: str, name: str) -> threading.Thread:
    """Copy what a process writes on ``pipe`` into object ``name`` of the runner channel at
    ``location``, in a thread, until end of file."""
    out = RunnerChannel(location).appender(name)

    def run() -> None:
        try:
            while chunk := pipe.read1(65536):  # type: ignore[attr-defined]
                out.write(chunk)
        finally:
            out.close()

    thread = threading.Thread(target=run, name=f"pump-{name}", daemon=True)
    thread.start()
    return thread


class ChannelWatch:
    """Tells when a file is written in a watched local folder of a channel (the control plane
    watches channels' top folders: the runner's ``state.json`` and ``metrics.jsonl``, not the logs
    in ``logs/``; a runner watches its remote hosts' folders), through Linux's inotify, so that
    neither side need look every few milliseconds. With ``on_change``, a thread calls it on each
    write; without, the owner waits on ``fileno()`` itself and calls ``drain()``. ``available`` is
    False where inotify cannot be had; callers then poll."""

    _EVENTS = 0x2 | 0x8 | 0x80  # IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO

    def __init__(self, on_change: Any = None) -> None:
        import ctypes

        self._on_change = on_change
        self._watches: dict[Path, int] = {}
        self._fd = -1
        try:
            self._libc = ctypes.CDLL(None, use_errno=True)
            self._fd = int(self._libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK))
        except (OSError, AttributeError):
            self._fd = -1
        self.available = self._fd >= 0
        if self.available and on_change is not None:
            threading.Thread(target=self._read, name="mlyard-channel-watch", daemon=True).start()

    def fileno(self) -> int:
        return self._fd

    def drain(self) -> None:
        """Read the pending events (the owner waits on ``fileno()`` again after)."""
        if self._fd < 0:
            return
        try:
            while os.read(self._fd, 65536):
                pass
        except OSError:  # nothing more pending (EAGAIN), or closed
            pass

    def _read(self) -> None:
        import select

        fd = self._fd
        while self.available:
            try:
                if not select.select([fd], [], [], 1.0)[0]:
                    continue
            except (OSError, ValueError):
                break
            self.drain()
            self._on_change()
        os.close(fd)

    def watch(self, folders: set[Path]) -> bool:
        """Watch exactly ``folders``; True if every one of them is watched."""
        if not self.available:
            return False
        for folder in set(self._watches) - folders:
            self._libc.inotify_rm_watch(self._fd, self._watches.pop(folder))
        complete = True
        for folder in folders - set(self._watches):
            wd = int(self._libc.inotify_add_watch(self._fd, os.fsencode(folder), self._EVENTS))
            if wd < 0:
                complete = False
            else:
                self._watches[folder] = wd
        return complete

    def close(self) -> None:
        """Stop watching (with a thread, it ends within a second, then closes the descriptor)."""
        if self._fd >= 0 and self.available:
            self.available = False
            if self._on_change is None:
                os.close(self._fd)
                self._fd = -1
