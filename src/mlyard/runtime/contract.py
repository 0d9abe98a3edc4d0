"""SageMaker's training contract: the ``/opt/ml`` layout, ``SM_*`` variables and the command line.

Pure functions of the job's request and one host's place in it, so that every executor lays out
the same contract.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlyard.hyperparameters import RESERVED_HYPERPARAMETERS, decode_hyperparameters, split_hyperparameters
from mlyard.store import write_atomic

__all__ = [
    "RESERVED_HYPERPARAMETERS",
    "decode_hyperparameters",
    "split_hyperparameters",
    "cli_args",
    "HostLayout",
    "sm_env",
]


def _render(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


def cli_args(user: dict[str, Any]) -> list[str]:
    """``--key value`` pairs sorted by key; one-character keys become ``-k``."""
    args: list[str] = []
    for key in sorted(user):
        args += [f"-{key}" if len(key) == 1 else f"--{key}", _render(user[key])]
    return args


def _env_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass
class HostLayout:
    """One host's ``/opt/ml``: ``real`` is where it lives on disk, ``seen`` where the script sees it
    (``/opt/ml`` when bubblewrap mounts it there, else the real path)."""

    real: Path
    seen: str
    channels: list[str] = field(default_factory=list)

    def path(self, rel: str) -> Path:
        return self.real / rel

    def seen_path(self, rel: str) -> str:
        return f"{self.seen}/{rel}" if rel else self.seen

    def create(self) -> None:
        for rel in ("input/config", "input/data", "code", "model", "output/data", "output/intermediate",
                    "output/metrics"):
            self.path(rel).mkdir(parents=True, exist_ok=True)
        for ch in self.channels:
            self.path(f"input/data/{ch}").mkdir(parents=True, exist_ok=True)

    # The job can write anything under its /opt/ml, symlinks included, while the runner works
    # outside any sandbox: the runner reaches files there only through these checks.
    def confined(self, path: Path) -> Path | None:
        """``path`` if it resolves inside this host's root (no symlink leads out), else None."""
        root = self.real.resolve()
        resolved = path.resolve()
        return path if resolved == root or root in resolved.parents else None

    def confined_dir(self, rel: str) -> Path | None:
        path = self.confined(self.path(rel))
        return path if path is not None and path.is_dir() and not path.is_symlink() else None

    def read_text(self, rel: str, limit: int = 64 * 1024) -> str | None:
        """A regular file's text (never through a symlink), or None."""
        path = self.confined(self.path(rel))
        if path is None:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return fh.read(limit).decode(errors="replace")

    def write_text(self, rel: str, text: str) -> None:
        path = self.confined(self.path(rel))
        if path is None:
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        except OSError:
            return
        with os.fdopen(fd, "w") as fh:
            fh.write(text)

    def to_seen(self, real: str) -> str:
        """Map a path under the real root to the path the script sees."""
        root = str(self.real)
        return self.seen + real[len(root):] if real.startswith(root) else real


def sm_env(
    *,
    layout: HostLayout,
    job_name: str,
    hosts: list[str],
    current_host: str,
    instance_type: str,
    user_hps: dict[str, Any],
    framework_extra: dict[str, Any],
    module_dir: str,
    entry_point: str,
    log_level: int,
    num_cpus: int,
    num_gpus: int,
    resource_config: dict[str, Any],
    input_data_config: dict[str, Any],
    user_args: list[str],
    region: str = "local",
) -> dict[str, str]:
    """Every ``SM_*`` variable the SageMaker training toolkit exports, for one host."""
    channels = sorted(layout.channels)
    module_name = entry_point[:-3] if entry_point.endswith(".py") else entry_point
    paths = {
        "model_dir": layout.seen_path("model"),
        "input_dir": layout.seen_path("input"),
        "input_config_dir": layout.seen_path("input/config"),
        "output_dir": layout.seen_path("output"),
        "output_data_dir": layout.seen_path("output/data"),
        "output_intermediate_dir": layout.seen_path("output/intermediate"),
    }
    channel_dirs = {ch: layout.seen_path(f"input/data/{ch}") for ch in channels}
    training_env: dict[str, Any] = {
        "additional_framework_parameters": framework_extra,
        "channel_input_dirs": channel_dirs,
        "current_host": current_host,
        "current_instance_type": instance_type,
        "framework_module": None,
        "hosts": hosts,
        "hyperparameters": user_hps,
        "input_config_dir": paths["input_config_dir"],
        "input_data_config": input_data_config,
        "input_dir": paths["input_dir"],
        "is_master": current_host == hosts[0],
        "job_name": job_name,
        "log_level": log_level,
        "master_hostname": hosts[0],
        "model_dir": paths["model_dir"],
        "module_dir": module_dir,
        "module_name": module_name,
        "network_interface_name": "eth0",
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "num_neurons": 0,
        "output_data_dir": paths["output_data_dir"],
        "output_dir": paths["output_dir"],
        "output_intermediate_dir": paths["output_intermediate_dir"],
        "resource_config": resource_config,
        "user_entry_point": entry_point,
    }
    env = {
        "SM_HOSTS": hosts,
        "SM_NETWORK_INTERFACE_NAME": "eth0",
        "SM_HPS": user_hps,
        "SM_USER_ENTRY_POINT": entry_point,
        "SM_FRAMEWORK_PARAMS": framework_extra,
        "SM_RESOURCE_CONFIG": resource_config,
        "SM_INPUT_DATA_CONFIG": input_data_config,
        "SM_OUTPUT_DATA_DIR": paths["output_data_dir"],
        "SM_CHANNELS": channels,
        "SM_CURRENT_HOST": current_host,
        "SM_CURRENT_INSTANCE_TYPE": instance_type,
        "SM_CURRENT_INSTANCE_GROUP": "homogeneousCluster",
        "SM_CURRENT_INSTANCE_GROUP_HOSTS": hosts,
        "SM_INSTANCE_GROUPS": ["homogeneousCluster"],
        "SM_INSTANCE_GROUPS_DICT": {"homogeneousCluster": {
            "instance_group_name": "homogeneousCluster", "instance_type": instance_type, "hosts": hosts}},
        "SM_DISTRIBUTION_INSTANCE_GROUPS": [],
        "SM_IS_HETERO": False,
        "SM_MODULE_NAME": module_name,
        "SM_LOG_LEVEL": log_level,
        "SM_FRAMEWORK_MODULE": "",
        "SM_INPUT_DIR": paths["input_dir"],
        "SM_INPUT_CONFIG_DIR": paths["input_config_dir"],
        "SM_OUTPUT_DIR": paths["output_dir"],
        "SM_NUM_CPUS": num_cpus,
        "SM_NUM_GPUS": num_gpus,
        "SM_NUM_NEURONS": 0,
        "SM_MODEL_DIR": paths["model_dir"],
        "SM_MODULE_DIR": module_dir,
        "SM_TRAINING_ENV": training_env,
        "SM_USER_ARGS": user_args,
        "SM_OUTPUT_INTERMEDIATE_DIR": paths["output_intermediate_dir"],
    }
    out = {key: _env_value(value) for key, value in env.items()}
    for ch, path in channel_dirs.items():
        out[f"SM_CHANNEL_{ch.upper()}"] = path
    for key, value in user_hps.items():
        out[f"SM_HP_{key.upper()}"] = _env_value(value)
    out.update(CURRENT_HOST=current_host, SAGEMAKER_JOB_NAME=job_name, SAGEMAKER_REGION=region,
               TRAINING_JOB_NAME=job_name, TRAINING_JOB_ARN=f"arn:mlyard:{region}:training-job/{job_name}")
    return out


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True).encode())
