"""Functions that workflows invoke (``LambdaStep``, ``arn:aws:states:::lambda:invoke``).

``register`` stores a Python function's code on the mlyard server under a name; a workflow's
``LambdaStep(parameters={"FunctionName": name, "Payload": ...})`` then runs it, in a processing job
of its own (never in the server), with the payload as its event. Its result is the task's
``Payload``::

    from mlyard.stepfunctions import functions

    @functions.register
    def check_quality(event, context):           # or (event) alone
        return {"passed": event["mse"] <= event["threshold"]}

    functions.register(evaluate, name="evaluate", source_dir="src", requirements=...)

The code sent is the function's own module file, or ``source_dir`` with the module in it (its
``requirements.txt`` is installed in the job). A function given as a module path
(``package.module:function``) needs no registering: the job imports it as its Python
environment has it.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mlyard.errors import ValidationError
from mlyard.runtime.function import IN_FUNCTION_JOB

__all__ = ["register", "describe", "list_functions", "delete"]

F = TypeVar("F", bound=Callable[..., Any])


def _client(session: Any) -> Any:
    from mlyard.stepfunctions.workflow import _client as client_of

    return client_of(session)


def register(func: F | None = None, *, name: str | None = None, source_dir: str | None = None,
             environment: dict[str, str] | None = None, timeout: int = 900, instance_type: str | None = None,
             sandbox: bool = False, description: str = "", session: Any = None) -> Any:
    """Register ``func`` (a module-level function) under ``name`` (default: its own name),
    replacing an earlier function of that name; returns ``func`` (so it works as a decorator, with
    or without arguments). ``timeout``: seconds its job may run. Inside the function's own job,
    where its module is imported to run it, registering does nothing."""
    if os.environ.get(IN_FUNCTION_JOB):  # the module is being imported by the function's own job
        return func if func is not None else (lambda f: f)
    if func is None:
        return lambda f: register(f, name=name, source_dir=source_dir, environment=environment, timeout=timeout,
                                  instance_type=instance_type, sandbox=sandbox, description=description,
                                  session=session)
    module_file, handler = _located(func, source_dir)
    put(_client(session), name or func.__name__, module_file, handler, source_dir, environment=environment,
        timeout=timeout, instance_type=instance_type, sandbox=sandbox, description=description)
    return func


def put(client: Any, name: str, module_file: Path, handler: str, source_dir: str | None = None, *,
        environment: dict[str, str] | None = None, timeout: int = 900, instance_type: str | None = None,
        sandbox: bool = False, description: str = "") -> dict[str, Any]:
    """Pack ``module_file`` (with ``source_dir``, if given), upload it and register it as the
    function ``name`` running ``handler`` (``module:function``), replacing one of that name."""
    from mlyard.client.sources import pack_source

    if source_dir:
        packed = pack_source(str(module_file.relative_to(Path(source_dir).resolve())), source_dir, None, None)
    else:
        packed = pack_source(str(module_file), None, None, None)
    code = client.upload_source(packed.path, "sourcedir.tar.gz")
    del packed
    result: dict[str, Any] = client.put_function({
        "FunctionName": name, "Handler": handler, "CodeUri": code, "Environment": dict(environment or {}),
        "Timeout": int(timeout), "InstanceType": instance_type, "Sandbox": bool(sandbox),
        "Description": description})
    return result


def _located(func: Callable[..., Any], source_dir: str | None) -> tuple[Path, str]:
    """The function's module file and its handler (``module:function``) as the job imports it."""
    qualname = getattr(func, "__qualname__", "")
    if not callable(func) or "." in qualname or "<" in qualname:
        raise ValidationError(f"{func!r} cannot be registered: register a function defined at the top level of "
                              "a module (its job imports it by name)")
    try:
        source = inspect.getsourcefile(func)
    except TypeError:
        source = None
    if source is None or not Path(source).is_file():
        raise ValidationError(f"{func.__name__!r} has no source file (defined in a notebook cell or the "
                              "interpreter?): put it in a .py file and import it from there")
    module_file = Path(source).resolve()
    if source_dir is None:
        return module_file, f"{module_file.stem}:{func.__name__}"
    root = Path(source_dir).resolve()
    if root not in module_file.parents:
        raise ValidationError(f"source_dir {source_dir!r} does not hold {func.__name__!r}'s module "
                              f"{str(module_file)!r}")
    relative = module_file.relative_to(root).with_suffix("")
    return module_file, f"{'.'.join(relative.parts)}:{func.__name__}"


def describe(name: str, session: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = _client(session).describe_function(name)
    return result


def list_functions(session: Any = None) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = _client(session).list_functions()
    return result


def delete(name: str, session: Any = None) -> None:
    _client(session).delete_function(name)
