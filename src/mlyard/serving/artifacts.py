"""A model's files on local disk, as an endpoint instance or a transform job serves them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mlyard import store
from mlyard.errors import ValidationError
from mlyard.store.paths import SourcePolicy, copy_file, copy_tree

__all__ = ["materialize_model", "materialize_containers", "PIPELINE_FILE", "PIPELINE_ENV", "pipeline_stages"]

PIPELINE_FILE = ".mlyard-pipeline.json"  # in a serial inference pipeline's folder: its containers, in order
PIPELINE_ENV = "MLYARD_SERIAL_PIPELINE"  # set for a pipeline's model server: the folder holds PIPELINE_FILE
_STAGE = re.compile(r"^container-[1-9][0-9]?$")


def _download(what: str, uri: str, dest: Path) -> Path:
    """``store.download``; an object that is not there or cannot be read is the user's input."""
    try:
        return store.download(uri, dest)
    except OSError as exc:
        raise ValidationError(f"{what} {uri!r} cannot be read: {exc.strerror or exc}") from exc


def materialize_model(model_data: str | None, source: str | None, target: Path, work: Path,
                      policy: SourcePolicy | None = None) -> dict[str, str]:
    """Lay out a model at ``target``: ``model_data`` (a model.tar.gz, extracted safely, or a folder,
    copied) and its inference code ``source`` (a sourcedir.tar.gz) under ``target/code``. Returns
    the environment the model server needs for the code. With ``policy``, local files are read
    only where it allows (mlyard.store.paths): ValidationError otherwise."""
    target.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    if model_data:
        archive = work / f"{target.name}-model.tar.gz"
        local = _local(model_data, "the model data (ModelDataUrl)", policy)
        if local is not None and local.is_dir():
            copy_tree(local, target, policy)
        else:
            store.extract_tar(_get("model_data", model_data, local, archive, policy), target)
    if not source:
        return {}
    code = work / f"{target.name}-code.tar.gz"
    store.extract_tar(_get("the model's inference code", source, _local(source, "the model's inference code", policy),
                           code, policy), target / "code")
    return {"SAGEMAKER_SUBMIT_DIRECTORY": str(target / "code")}


def materialize_containers(containers: list[dict[str, Any]], target: Path, work: Path,
                           policy: SourcePolicy | None = None) -> dict[str, str]:
    """Lay out a model's containers (``server.endpoints.model_containers``) at ``target`` and return
    the environment its model server gets. One container: its model and code at ``target``, its
    environment returned. Several (a serial inference pipeline): each at ``target/container-<i>``,
    with ``.mlyard-pipeline.json`` listing each one's folder and environment, in order; ``mlyard serve``
    passes each request through them all."""
    if len(containers) == 1:
        c = containers[0]
        env = materialize_model(c.get("ModelDataUrl"), c.get("SourceUrl"), target, work, policy)
        return {**env, **{k: str(v) for k, v in (c.get("Environment") or {}).items()}}
    stages = []
    for i, c in enumerate(containers):
        folder = f"container-{i + 1}"
        try:
            materialize_model(c.get("ModelDataUrl"), c.get("SourceUrl"), target / folder, work, policy)
        except ValidationError as exc:
            raise ValidationError(f"container {i + 1} of {len(containers)}: {exc}") from None
        # Its code is in <folder>/code, where the model server looks by default (wherever the folder
        # is moved: a node of a cluster), so no absolute SAGEMAKER_SUBMIT_DIRECTORY is written.
        stages.append({"dir": folder, "environment": {k: str(v) for k, v in (c.get("Environment") or {}).items()}})
    (target / PIPELINE_FILE).write_text(json.dumps(stages))
    return {PIPELINE_ENV: "1"}


def pipeline_stages(root: Path) -> list[tuple[Path, dict[str, str]]]:
    """A serial pipeline's containers as ``materialize_containers`` laid them out: each one's
    folder (under ``root``, checked) and environment, in order."""
    try:
        stages = json.loads((root / PIPELINE_FILE).read_text())
        out = []
        for stage in stages:
            if not isinstance(stage.get("dir"), str) or not _STAGE.match(stage["dir"]):
                raise ValueError(f"a stage's folder {stage.get('dir')!r} is not a container folder")
            out.append((root / stage["dir"], {str(k): str(v) for k, v in dict(stage["environment"]).items()}))
        return out
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValidationError(f"{str(root)!r} is not a serial inference pipeline's folder: {exc}") from None


def _local(uri: str, what: str, policy: SourcePolicy | None) -> Path | None:
    if policy is not None:
        return policy.check(what, uri)
    return store.local_path(uri)


def _get(what: str, uri: str, local: Path | None, dest: Path, policy: SourcePolicy | None) -> Path:
    if local is None:
        return _download(what, uri, dest)
    try:
        return copy_file(local.parent, local.name, dest, policy)
    except OSError as exc:
        raise ValidationError(f"{what} {uri!r} cannot be read: {exc.strerror or exc}") from exc
