"""The job runner: ``python -m mlyard.runtime.runner CHANNEL [WORK_DIR]``.

One runner per job, started by an executor so that it outlives a restart of the control plane.
It reads ``spec.json`` from its runner channel (``runtime/runner_channel.py``), lays out the
contract for each host in its work directory (the channel's folder when that is local, else a
folder of the machine it runs on), runs the hosts, and reports through the channel: ``state.json``,
``metrics.jsonl``, ``logs/<host>.log``. A ``stop`` object in the channel (or SIGTERM) stops it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from mlyard.errors import ValidationError
from mlyard.runtime.contract import HostLayout
from mlyard.runtime.hosts import ExitWatch, HostProcess, MetricSink, kill_tree, terminate_all
from mlyard.runtime.metrics import MetricParser
from mlyard.runtime.remote import RemoteHost
from mlyard.runtime.runner_channel import ChannelWatch, RunnerChannel, work_dir_for
from mlyard.runtime.state import TERMINAL, StateFile

__all__ = ["JobRunner", "JobFailure", "main", "STOP_REQUESTED", "job_environment", "public_environment",
           "kill_descendants"]

# Set by SIGTERM/SIGINT, whenever they come: also while the runner still loads.
STOP_REQUESTED = threading.Event()

_FAILURE_LIMIT = 1024

# Never handed to user code: the control plane's credentials and locations.
_PRIVATE_ENV = ("MLYARD_TOKEN", "MLYARD_DATABASE_URL", "MLYARD_URL")


# What a sandboxed job inherits from the machine's environment; everything else (cloud
# credentials, tokens) stays out.
_SANDBOX_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "TERM", "PYTHONPATH", "PYTHONHASHSEED", "OMP_NUM_THREADS",
                "MKL_NUM_THREADS", "TF_CPP_MIN_LOG_LEVEL", "CUDA_HOME", "LD_LIBRARY_PATH")


def public_environment() -> dict[str, str]:
    """This process's environment without the control plane's credentials and locations: what any
    process the server starts (runners, endpoint instances) may inherit."""
    return {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENV}


def job_environment(extra: dict[str, str], sandboxed: bool = False) -> dict[str, str]:
    """The environment of user code: the public one (only a neutral part of it when sandboxed),
    with ``extra`` on top."""
    if sandboxed:
        env = {k: v for k, v in os.environ.items() if k in _SANDBOX_ENV or k.startswith("LC_")}
    else:
        env = public_environment()
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class JobFailure(Exception):
    """The job cannot go on, for a reason the user can act on; ``str(exc)`` is its FailureReason."""


class JobRunner:
    """What every kind of job shares: state, signals, hosts, supervision. Subclasses prepare the
    hosts (``prepare`` returning one command per host) and publish results (``publish``)."""

    kind = "job"

    def __init__(self, channel: RunnerChannel, job_dir: Path, spec: dict[str, Any]) -> None:
        self.channel = channel
        self.job_dir = job_dir  # the work directory: hosts' layouts, code, downloads
        self.spec = spec
        self.request: dict[str, Any] = spec["request"]
        self.name: str = spec["job_name"]
        self.hosts: list[str] = spec["hosts"]
        self.state = StateFile(channel)
        self.stop_requested = STOP_REQUESTED
        self.procs: list[Any] = []  # HostProcess here, RemoteHost on another machine
        self.grace = float(spec.get("stop_grace_seconds", 30))
        self.sandboxed = bool(spec.get("sandbox"))
        self.cgroups: dict[str, Any] = {}       # host -> HostCgroup (sandboxed hosts)
        self.pass_fds: dict[str, int] = {}     # host -> the seccomp filter's file descriptor
        self.network: Any = None               # the SharedNetwork of sandboxed hosts on this machine
        self.t0 = time.monotonic()             # max_run counts from here: download and setup too
        self.placement = self._placement()     # host -> {"address", "remote"}: where the executor put it
        self.abandoned_setup = False           # set-up was interrupted and its thread may still start things
        job_dir.mkdir(parents=True, exist_ok=True)

    def _placement(self) -> dict[str, dict[str, Any]]:
        """Where each host runs, as the executor wrote it in the channel (``placement.json``:
        ``{"hosts": {"algo-1": {"address": "10.0.0.5", "remote": false}, ...}}``); without it,
        every host runs here, on loopback."""
        raw = self.channel.get("placement.json")
        given = (json.loads(raw).get("hosts") or {}) if raw else {}
        ids = self.spec.get("gpu_ids") or [None] * len(self.hosts)
        out: dict[str, dict[str, Any]] = {}
        for index, h in enumerate(self.hosts):
            placed = given.get(h) or {}
            # The GPUs the host sees: the executor's choice where it made one (a cluster's GPUs are
            # numbered per node), else the scheduler's.
            gpus = placed.get("gpu_ids") if placed.get("gpu_ids") is not None else ids[index]
            out[h] = {"address": str(placed.get("address") or "127.0.0.1"), "remote": bool(placed.get("remote")),
                      "gpu_ids": gpus}
        return out

    def address(self, host: str) -> str:
        """The address other hosts reach ``host`` at."""
        return str(self.placement[host]["address"])

    # -- hooks ------------------------------------------------------------------------------
    def prepare(self) -> list[tuple[str, list[str], dict[str, str], str | None, bool]]:
        """Lay out every host; return (host, command, env, cwd, wrapped-by-bwrap) for each."""
        raise NotImplementedError

    def metric_definitions(self) -> list[dict[str, str]]:
        return []

    def max_runtime(self) -> float | None:
        return None

    def on_tick(self) -> None:
        """Called about every second while hosts run (checkpoint sync, continuous upload)."""

    def publish(self, outcome: str) -> dict[str, Any]:
        """Upload results; return fields for the final state (artifact URIs...)."""
        return {}

    def failure_reason(self, host: HostProcess, code: int) -> str:
        raise NotImplementedError

    # -- shared by the job kinds -----------------------------------------------------------
    def requirements_python(self, requirements: Path) -> str:
        """The Python of the cached environment for ``requirements`` (mlyard's own if absent)."""
        from mlyard.runtime.environments import InstallRequirementsError, ensure_env

        if not requirements.exists():
            return sys.executable
        self.state.transition("InProgress", "Downloading", "Installing requirements.txt")
        try:
            return str(ensure_env(requirements, Path(self.spec["env_cache"]), self.job_dir / "install.log"))
        except InstallRequirementsError as exc:
            raise JobFailure(f"InstallRequirementsError:\n{exc}\n{exc.output[-700:]}") from exc

    def hosts_file(self) -> Path:
        """An /etc/hosts that resolves every host name (algo-N) to the address it runs at."""
        path = self.job_dir / "work" / "hosts"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            by_address: dict[str, list[str]] = {"127.0.0.1": ["localhost"]}
            for host in self.hosts:
                by_address.setdefault(self.address(host), []).append(host)
            lines = [f"{address} {' '.join(names)}" for address, names in by_address.items()]
            path.write_text("\n".join([*lines, "::1 localhost ip6-localhost ip6-loopback"]) + "\n")
        return path

    def contain(self, host: str, cmd: list[str], host_dir: Path, chdir: str, python: str,
                binds: list[tuple[Path, str]] | None = None) -> tuple[list[str], str | None, bool]:
        """Wrap a host's command in bubblewrap (``host_dir`` at /opt/ml, ``binds`` at their paths);
        return (command, cwd, wrapped). Without bubblewrap the command runs as it is, in ``chdir``.
        A sandboxed host also gets its seccomp filter, its control group and files the sandbox user
        owns (see ``_sandbox_host``)."""
        from mlyard.compute import sandbox

        problem = sandbox.sandbox_problem() if self.sandboxed else None
        if problem:
            raise JobFailure(f"ClientError: {problem}.")
        if not sandbox.bwrap_available():
            if binds:
                raise JobFailure(f"ClientError: paths outside /opt/ml ({', '.join(d for _, d in binds)}) need "
                                 f"bubblewrap: {sandbox.INSTALL_HINT}.")
            return cmd, chdir, False
        mounts = sandbox.Mounts(host_dir, self.hosts_file(), binds=list(binds or []))
        if not self.sandboxed:
            return sandbox.wrap(cmd, mounts, sandbox=False, hostname=host, chdir=chdir), None, True
        home = Path(self.spec["mlyard_home"])
        mounts.hide.append(home)
        store_root = self.spec.get("store_root", "")
        if store_root.startswith("file://"):
            mounts.hide.append(Path(store_root[len("file://"):]))
        env_dir = Path(python).parent.parent
        if home in Path(python).parents:
            mounts.readable.append(env_dir)
        fd, per_process_memory, processes = self._sandbox_host(host, [host_dir, *(src for src, _ in binds or [])],
                                                               python)
        return sandbox.wrap(cmd, mounts, sandbox=True, hostname=host, chdir=chdir, seccomp_fd=fd,
                            memory_mib=per_process_memory, processes=processes,
                            network=self._shared_network()), None, True

    def _shared_network(self) -> Any:
        """The network namespace this job's sandboxed hosts on this machine share, made at the
        first of them; None when only one host runs here (it gets a namespace of its own)."""
        from mlyard.compute import sandbox

        if sum(not self.placement[h]["remote"] for h in self.hosts) < 2:
            return None
        if self.network is None:
            try:
                self.network = sandbox.SharedNetwork()
            except OSError as exc:
                raise JobFailure(f"InternalServerError: {exc}") from exc
        return self.network

    def _sandbox_host(self, host: str, writable: list[Path], python: str) -> tuple[int, int | None, int | None]:
        """What a sandboxed host needs besides its mounts: the seccomp filter (an open file descriptor
        the host process inherits), a control group holding the job's limits for all its processes
        (or, where there is none, per-process limits and a warning), and its writable directories
        owned by the sandbox user. Returns (filter fd, per-process memory MiB, process limit)."""
        from mlyard.compute import sandbox
        from mlyard.compute.cgroups import HostCgroup, Limits
        from mlyard.compute.seccomp import write_filter

        if self.stop_requested.is_set() or self.state.data["status"] in TERMINAL:
            raise JobFailure("ClientError: the job ended while it was being set up")  # nothing more to create
        uid = sandbox.sandbox_uid()
        if uid is not None:
            bad = sandbox.unreadable([*sorted(sandbox.runtime_dirs()), Path(python).resolve(),
                                      Path(python).parent.parent])
            if bad:
                raise JobFailure(f"ClientError: sandboxed jobs run as uid {uid}, which cannot read "
                                 f"{', '.join(map(str, bad))}; make them world-readable (chmod -R o+rX) or "
                                 "install Python where every user can read it.")
            for top in writable:
                _chown_tree(top, uid)
        bpf = self.job_dir / "work" / "seccomp.bpf"
        if not bpf.exists():
            write_filter(bpf)
        fd = os.open(bpf, os.O_RDONLY)
        self.pass_fds[host] = fd
        per_host = self.spec["per_host"]
        memory_mib = int(per_host["memory_mib"])
        processes = int(os.environ.get("MLYARD_SANDBOX_PIDS", "1024"))
        group, why = HostCgroup.create(f"{self.name}-{host}", Limits(
            memory_bytes=memory_mib * 1024 * 1024, pids=processes, cpus=max(float(per_host["cpus"]), 0.1)))
        if group is not None:
            self.cgroups[host] = group
            return fd, None, None
        warning = (f"No control group holds this sandboxed job's limits ({why}): its {memory_mib} MiB memory "
                   f"limit applies to each process's address space, and its limit of {processes} processes "
                   "to all processes of the sandbox user; CPU use is not limited.")
        if warning not in self.state.data["warnings"]:
            self.state.data["warnings"].append(warning)
        return fd, memory_mib, processes

    def script_failure(self, host: HostProcess, code: int, layout: HostLayout, command: str) -> str:
        """FailureReason of a host whose process exited with ``code``: the failure file if the script
        wrote one, else its own error (last traceback, or the tail of its stderr)."""
        from mlyard.compute import sandbox

        written = layout.read_text("output/failure", _FAILURE_LIMIT)
        if written and written.strip():
            return written
        tail = host.stderr_tail.decode(errors="replace").strip()
        start = tail.rfind("Traceback (most recent call last)")
        lines = [ln for ln in (tail[start:] if start >= 0 else tail).splitlines() if ln.strip()]
        message = "\n".join(lines if start >= 0 else lines[-12:])
        if len(message) > 600:
            message = "..." + message[-600:]
        if code < 0:
            message = f"killed by signal {-code}\n{message}"
        reason = (f"AlgorithmError: ExecuteUserScriptError:\nExitCode {code}\n"
                  f"ErrorMessage \"{message}\"\nCommand \"{command}\"")
        if not sandbox.bwrap_available() and "/opt/ml" in tail:
            reason = (f"The script uses /opt/ml paths, which exist only when bubblewrap is available: "
                      f"{sandbox.INSTALL_HINT}. {reason}")
        layout.write_text("output/failure", reason)
        return reason

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> int:
        try:
            return self._run()
        finally:
            for group in list(self.cgroups.values()):  # also when set-up failed or was interrupted
                group.remove()
            for fd in self.pass_fds.values():
                os.close(fd)
            if self.network is not None:
                self.network.close()

    def _run(self) -> int:
        self.state.transition("InProgress", "Starting", "Preparing the instances for the job",
                              started_at=time.time())
        try:
            commands = self._prepare_interruptibly()
            if commands is None or self.stop_requested.is_set():
                if self.stop_requested.is_set():
                    return self._end("Stopped", "Stopped", "The job was stopped before it started")
                return self._end("Stopped", "MaxRuntimeExceeded",
                                 "The job was stopped because it reached its maximum runtime",
                                 failure_reason=(f"MaxRuntimeExceeded: downloading the job's inputs and setting it "
                                                 f"up took longer than its max_run of {self.max_runtime():g} "
                                                 "seconds. Raise max_run or make the inputs smaller."))
            outcome, reason = self._run_hosts(commands)
        except JobFailure as exc:
            return self._end("Failed", "Failed", "The job failed to start", failure_reason=_clip(str(exc)))
        except ValidationError as exc:  # the user's input (a broken archive, an unreadable object)
            return self._end("Failed", "Failed", "The job failed to start",
                             failure_reason=_clip(f"ClientError: {exc.message}"))
        except Exception as exc:  # a defect of mlyard's, not of the user's script
            traceback.print_exc()
            return self._end("Failed", "Failed", "mlyard's job runner failed",
                             failure_reason=_clip(f"InternalServerError: the job runner failed: {exc!r} "
                                                  f"(details in {self.job_dir / 'runner.log'})"))
        self.state.transition("InProgress", "Uploading", "Uploading generated artifacts")
        try:
            fields = self.publish(outcome)
        except JobFailure as exc:
            return self._end("Failed", "Failed", "The job's outputs are incomplete", failure_reason=_clip(str(exc)))
        except Exception as exc:
            traceback.print_exc()
            return self._end("Failed", "Failed", "Uploading the job's artifacts failed",
                             failure_reason=_clip(f"ClientError: uploading the job's artifacts failed: {exc}"))
        if outcome == "Completed":
            return self._end("Completed", "Completed", f"{self.kind.capitalize()} job completed", **fields)
        if outcome == "MaxRuntimeExceeded":
            return self._end("Stopped", "MaxRuntimeExceeded",
                             "The job was stopped because it reached its maximum runtime",
                             failure_reason=reason, **fields)
        if outcome == "Stopped":
            return self._end("Stopped", "Stopped", "The job was stopped", **fields)
        return self._end("Failed", "Failed", "The job failed", failure_reason=reason, **fields)

    def _prepare_interruptibly(self) -> list[tuple[str, list[str], dict[str, str], str | None, bool]] | None:
        """``prepare`` in a thread, so that a stop or max_run ends the job even while a download or
        an install blocks; None when it was interrupted (what it started is killed)."""
        result: dict[str, Any] = {}

        def target() -> None:
            try:
                result["commands"] = self.prepare()
            except BaseException as exc:  # handed to the main thread
                result["error"] = exc

        thread = threading.Thread(target=target, name="prepare", daemon=True)
        thread.start()
        limit = self.max_runtime()
        while thread.is_alive():
            thread.join(0.02)
            interrupted = self.stop_requested.is_set() or (limit is not None and time.monotonic() - self.t0 > limit)
            if interrupted and thread.is_alive():
                self.abandoned_setup = True  # main() ends the process group when the job has ended
                kill_descendants()
                return None
        if "error" in result:
            raise result["error"]
        commands: list[tuple[str, list[str], dict[str, str], str | None, bool]] = result["commands"]
        return commands

    def _end(self, status: str, secondary: str, message: str, **fields: Any) -> int:
        self.state.transition(status, secondary, message, ended_at=time.time(), **fields)
        return 0 if status == "Completed" else 1

    def _run_hosts(self, commands: list[tuple[str, list[str], dict[str, str], str | None, bool]]
                   ) -> tuple[str, str | None]:
        parser = MetricParser(self.metric_definitions())
        sink = MetricSink(self.channel.appender("metrics.jsonl"))
        started: dict[str, Any] = {}
        try:
            # Hosts on other machines are handed over first: their agents need a moment to unpack and
            # start them, which the local hosts' start then overlaps (the job ends with its last host).
            for host, cmd, env, cwd, wrapped in commands:
                if self.placement[host]["remote"]:
                    started[host] = RemoteHost(self.channel, host, cmd, env, cwd, wrapped,
                                               self.job_dir / "hosts" / host, self.job_dir, parser, sink)
            for host, cmd, env, cwd, wrapped in commands:
                if host in started:
                    continue
                fd = self.pass_fds.pop(host, None)
                try:
                    started[host] = HostProcess(host, cmd, env, cwd, self.channel.appender(f"logs/{host}.log"),
                                                parser, sink, wrapped, pass_fds=() if fd is None else (fd,),
                                                cgroup=self.cgroups.get(host))
                finally:
                    if fd is not None:
                        os.close(fd)
            self.procs = [started[host] for host, *_ in commands]
            self.state.transition("InProgress", "Training" if self.kind == "training" else "InProgress",
                                  "Running the entry point on " + ", ".join(self.hosts))
            return self._supervise()
        finally:
            self.procs = self.procs or list(started.values())  # a start that failed part-way
            for p in self.procs:
                p.end()
            kill_descendants()  # daemons that left their host's process group (the runner is their subreaper)
            for p in self.procs:
                p.finish()
            sink.close()

    def _supervise(self) -> tuple[str, str | None]:
        started = self.t0
        limit = self.max_runtime()
        next_tick = started + 1.0
        watch: ChannelWatch | None = None
        exits: ExitWatch | None = None
        try:
            watch = self._watch_remote_hosts()
            exits = ExitWatch([p.proc.pid for p in self.procs if isinstance(p, HostProcess)], watch)
            for p in self.procs:
                if isinstance(p, RemoteHost):
                    p.watched = watch is not None
            return self._watch(started, limit, next_tick, exits)
        finally:
            if exits is not None:
                exits.close()
            if watch is not None:
                watch.close()

    def _watch_remote_hosts(self) -> ChannelWatch | None:
        """An inotify watch on the remote hosts' folders of the channel, where their agents write
        their ends, if it sees those writes: the channel is a folder here and the agents share this
        machine (its kernel), as the nodes of a test cluster do. A shared file system's writes from
        other machines are not seen by inotify: there (or with no remote host) None, and the hosts
        are polled."""
        remote = [h for h in self.hosts if self.placement[h]["remote"]]
        here = {self.address(h) for h in self.hosts if not self.placement[h]["remote"]}
        if not remote or self.channel.local is None or len(here) != 1 \
                or any(self.address(h) not in here for h in remote):
            return None
        watch = ChannelWatch()
        if watch.watch({self.channel.local / "hosts" / h for h in remote}):
            print(f"runner: watching {', '.join(remote)} through inotify (their agents share this machine)",
                  flush=True)
            return watch
        watch.close()
        return None

    def _watch(self, started: float, limit: float | None, next_tick: float, exits: ExitWatch
               ) -> tuple[str, str | None]:
        while True:
            codes = [p.poll() for p in self.procs]
            failed = next((p for p, c in zip(self.procs, codes, strict=True) if c not in (None, 0)), None)
            if failed is not None:
                code = failed.poll()
                assert code is not None
                others = [p for p in self.procs if p is not failed]
                terminate_all(others, self.grace)
                if self.stop_requested.is_set():
                    return "Stopped", None
                reason = self.failure_reason(failed, code)
                group = self.cgroups.get(failed.name)
                if group is not None and group.oom_killed():
                    reason = (f"OutOfMemory: the job went over its memory limit of "
                              f"{self.spec['per_host']['memory_mib']} MiB on {failed.name} and the kernel killed "
                              f"it. Use a larger instance type or less memory. {reason}")
                if len(self.procs) > 1:
                    reason = f"{failed.name}: {reason}"
                return "Failed", _clip(reason)
            if all(c == 0 for c in codes):
                return "Completed", None
            now = time.monotonic()
            if self.stop_requested.is_set():
                self.state.transition("Stopping", "Stopping", "Stopping the job's hosts")
                terminate_all(self.procs, self.grace)
                return "Stopped", None
            if limit is not None and now - started > limit:
                self.state.transition("Stopping", "Stopping", "The job reached its maximum runtime")
                terminate_all(self.procs, self.grace)
                return "MaxRuntimeExceeded", (
                    f"MaxRuntimeExceeded: the job ran longer than its max_run of {limit:g} seconds and was "
                    "stopped (SIGTERM, then SIGKILL). Raise max_run or make the job shorter.")
            if now >= next_tick:
                self.on_tick()
                next_tick = now + 1.0
            # A local host's exit wakes this at once, and so does a remote host's agent writing its
            # end where the folder is watched; unwatched hosts elsewhere, a stop and max_run are
            # looked at every 50 ms (every 5 ms in the job's first second).
            if exits.wait(0.005 if now - started < 1.0 else 0.05):
                for p in self.procs:
                    if isinstance(p, RemoteHost):
                        p.look_now()


def _chown_tree(top: Path, uid: int) -> None:
    """Give ``top`` and everything under it (links themselves, never their targets) to ``uid``."""
    os.lchown(top, uid, uid)
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, uid)


def become_subreaper() -> None:
    """Processes a job orphans (double-forked daemons) become the runner's children, so that
    ``kill_descendants`` finds them."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def kill_descendants() -> None:
    """SIGKILL every process below the runner (what hosts and set-up left behind)."""
    import psutil

    kill_tree(psutil.Process(), include_root=False, wait=2)


def _clip(text: str) -> str:
    return text if len(text) <= _FAILURE_LIMIT else text[: _FAILURE_LIMIT - 3] + "..."


def _read_job_args(line: str) -> list[str]:
    """A forked job's arguments, tab-separated on one line; its output goes to ``runner.log`` in its
    work directory from here on. ``--agent`` first: a host agent's (channel, host, work directory)."""
    args = line.split("\t")
    work = Path(args[3] if args[0] == "--agent" else args[1])
    work.mkdir(parents=True, exist_ok=True)
    fd = os.open(work / "runner.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return args


def _import_runtime() -> None:
    """What the fork server imports ahead of the jobs it forks (the imports are what it is for)."""
    import psutil  # noqa: F401  (kill_descendants at every job's end)

    import mlyard.runtime.processing  # noqa: F401
    import mlyard.runtime.remote  # noqa: F401
    import mlyard.runtime.training  # noqa: F401
    from mlyard.compute.sandbox import bwrap_available

    bwrap_available()


def _fork_server() -> int:
    """``--fork-server``: import the runtime once, then for each line of stdin (a job's arguments:
    channel and work directory) fork a runner or host agent, a session of its own, and answer its pid
    on stdout. A fork costs milliseconds where starting Python and importing costs 0.2 s of CPU,
    taken from the node's job. End-of-file: exit (the runners forked go on)."""
    _import_runtime()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked children are reaped by the kernel
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    for line in sys.stdin:
        if not line.strip():
            continue
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.setsid()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.close(null)
                sys.stdin = open(os.devnull)  # noqa: SIM115  (the forked process's for good)
                code = _serve(_read_job_args(line.strip()))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[0] == "--fork-server":
        return _fork_server()
    return _serve(args)


def _serve(args: list[str]) -> int:
    """Run the job (or, ``--agent`` first, the host agent) that ``args`` name."""
    # Run as ``python -m``, this file is also ``__main__``: the runners use the event of the
    # module they import, so that is the one the signals must set.
    from mlyard.runtime import runner as module

    if args[0] == "--agent":  # a host agent: its own signals, no orphans of others to adopt
        from mlyard.runtime.remote import agent_main

        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return agent_main(args[1:])
    signal.signal(signal.SIGTERM, lambda *_: module.STOP_REQUESTED.set())
    signal.signal(signal.SIGINT, lambda *_: module.STOP_REQUESTED.set())
    become_subreaper()
    channel = RunnerChannel(args[0] if "://" in args[0] else str(Path(args[0]).resolve()))
    spec = channel.read_spec()
    job_dir = Path(args[1]).resolve() if len(args) > 1 else work_dir_for(channel, spec["job_name"])
    channel.watch_stop(module.STOP_REQUESTED)
    from mlyard import store
    from mlyard.runtime.channels import source_policy

    store.set_buckets(spec.get("buckets") or {})  # s3://<local bucket>/... resolves before any URI is touched

    source_policy(spec).guard_writes()  # the runner writes outputs with more rights than their submitter
    kind = spec["kind"]
    runner: JobRunner
    if kind == "training":
        from mlyard.runtime.training import TrainingRunner

        runner = TrainingRunner(channel, job_dir, spec)
    elif kind == "processing":
        from mlyard.runtime.processing import ProcessingRunner

        runner = ProcessingRunner(channel, job_dir, spec)
    elif kind == "transform":
        from mlyard.runtime.transform import TransformRunner

        runner = TransformRunner(channel, job_dir, spec)
    else:
        raise SystemExit(f"unknown job kind {kind!r}")
    code = runner.run()
    if channel.local is None:  # everything worth keeping is in the channel and the store now
        import shutil

        shutil.rmtree(job_dir, ignore_errors=True)
    if runner.abandoned_setup and os.getpgrp() == os.getpid():  # a group of its own, as executors start it
        # The set-up thread may have started a process since its children were killed (pip's next
        # step, say); they are in the runner's process group, which ends here, the runner with it.
        kill_descendants()
        sys.stdout.flush()
        os.killpg(0, signal.SIGKILL)
    return code


if __name__ == "__main__":
    os.umask(0o022)
    from mlyard.runtime.runner import main as _main

    sys.exit(_main())
