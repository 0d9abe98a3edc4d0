"""A model's files on local disk, as an endpoint instance or a transform job serves them."""

from __future__ import annotations

import shutil
from pathlib import Path

from mlyard import store
from mlyard.errors import ValidationError

__all__ = ["materialize_model"]


def _download(what: str, uri: str, dest: Path) -> Path:
    """``store.download``; an object that is not there or cannot be read is the user's input."""
    try:
        return store.download(uri, dest)
    except OSError as exc:
        raise ValidationError(f"{what} {uri!r} cannot be read: {exc.strerror or exc}") from exc


def materialize_model(model_data: str | None, source: str | None, target: Path, work: Path) -> dict[str, str]:
    """Lay out a model at ``target``: ``model_data`` (a model.tar.gz, extracted safely, or a folder,
    copied) and its inference code ``source`` (a sourcedir.tar.gz) under ``target/code``. Returns
    the environment the model server needs for the code."""
    target.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    if model_data:
        local = store.local_path(model_data)
        if local is not None and local.is_dir():
            shutil.copytree(local, target, dirs_exist_ok=True)
        else:
            store.extract_tar(_download("model_data", model_data, work / f"{target.name}-model.tar.gz"), target)
    if not source:
        return {}
    store.extract_tar(_download("the model's inference code", source, work / f"{target.name}-code.tar.gz"),
                      target / "code")
    return {"SAGEMAKER_SUBMIT_DIRECTORY": str(target / "code")}
