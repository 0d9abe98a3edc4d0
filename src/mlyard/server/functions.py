"""Functions that workflows invoke (``arn:aws:states:::lambda:invoke``): registered Python
handlers, each run in a processing job of its own when invoked, never in the server.

A registered function is a record (kind ``function`` among the catalog's objects): its handler
(``module:function``), its code (a source archive in the store, extracted at
``/opt/ml/processing/input/code``, with its ``requirements.txt`` installed), its environment,
instance type and time limit. A ``FunctionName`` that names no registered function but is a module
path (``package.module:function``, or ``package.module.function``) runs that function as the job's
Python environment imports it.
"""

from __future__ import annotations

import re
from typing import Any

from mlyard import store
from mlyard.catalog import Catalog, Objects
from mlyard.errors import ConflictError, NotFoundError, ValidationError
from mlyard.server.buckets import check_s3_uri
from mlyard.server.describe import iso
from mlyard.store.paths import SourcePolicy

__all__ = ["Functions", "function_arn", "FUNCTION_NAME", "EVENT_PATH", "RESULT_PATH", "CODE_PATH"]

FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a registered function's name, as Lambda's
_ARN = re.compile(r"^arn:[a-z0-9-]+:lambda:[^:]*:[^:]*:function:(?P<name>[^:]+)(?::[^:]+)?$")
_MODULE_PATH = re.compile(r"^(?P<module>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)(?::|\.)(?P<attr>[A-Za-z_]\w*)$")
EVENT_PATH = "/opt/ml/processing/input/event"
CODE_PATH = "/opt/ml/processing/input/code"
RESULT_PATH = "/opt/ml/processing/output/result"
DEFAULT_TIMEOUT = 900  # seconds, Lambda's longest
DEFAULT_INSTANCE = "ml.m5.large"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:local:000000000000:function:{name}"


def name_of(function: str) -> str:
    """A FunctionName as given (a name, an ARN, or a module path) without its ARN wrapping."""
    m = _ARN.match(function)
    return m["name"] if m else function


def handler_of(path: str) -> str | None:
    """``module:function`` for a module path, else None."""
    m = _MODULE_PATH.match(path)
    return f"{m['module']}:{m['attr']}" if m and ("." in path or ":" in path) else None


class Functions:
    """The registry of functions workflows invoke."""

    def __init__(self, catalog: Catalog, sources: SourcePolicy) -> None:
        self.objects = Objects(catalog)
        self.sources = sources

    def put(self, req: dict[str, Any]) -> dict[str, Any]:
        """Register ``req`` (a PutFunction request) under its name, replacing an earlier one."""
        name = req["FunctionName"]
        if not FUNCTION_NAME.match(name):
            raise ValidationError(f"function name {name!r} must be 1 to 64 letters, digits, '-' or '_'")
        if handler_of(req["Handler"]) is None:
            raise ValidationError(f"handler {req['Handler']!r} must be module:function (like 'evaluate:handler')")
        code = req.get("CodeUri")
        if code:
            check_s3_uri("the function's code (CodeUri)", code, need_key=True)
            # Whether a path may be read is told before whether it exists: nothing is said of denied places.
            self.sources.check("the function's code (CodeUri)", code)
            if not store.exists(store.check_uri(code)):
                raise ValidationError(f"the function's code {code!r} does not exist; upload it first")
        spec = {"FunctionName": name, "Handler": handler_of(req["Handler"]), "CodeUri": code,
                "Environment": dict(req.get("Environment") or {}), "Timeout": req.get("Timeout") or DEFAULT_TIMEOUT,
                "InstanceType": req.get("InstanceType") or DEFAULT_INSTANCE, "Sandbox": bool(req.get("Sandbox")),
                "Description": req.get("Description") or ""}
        try:
            self.objects.insert("function", name, spec, what="function")
        except ConflictError:  # registered before: replaced
            self.objects.update("function", name, spec=spec)
        return self.describe(name)

    def describe(self, name: str) -> dict[str, Any]:
        row = self.objects.get("function", name_of(name), "function")
        return _described(row)

    def list(self) -> list[dict[str, Any]]:
        return [_described(r) for r in self.objects.list("function")]

    def delete(self, name: str) -> None:
        self.objects.get("function", name_of(name), "function")
        self.objects.delete("function", name_of(name))

    def resolve(self, function: str) -> dict[str, Any]:
        """What to run for a FunctionName: a registered function's record, or a module path's
        handler; NotFoundError (saying what would do) otherwise."""
        name = name_of(function)
        try:
            return dict(self.objects.get("function", name)["spec"])
        except NotFoundError:
            handler = handler_of(name)
            if handler is None:
                raise NotFoundError(f"no function named {name!r}: register it (mlyard.stepfunctions.functions."
                                    "register), or give a module path like 'package.module:function'") from None
        return {"FunctionName": name, "Handler": handler, "CodeUri": None, "Environment": {},
                "Timeout": DEFAULT_TIMEOUT, "InstanceType": DEFAULT_INSTANCE, "Sandbox": False, "Description": ""}


def _described(row: dict[str, Any]) -> dict[str, Any]:
    spec = row["spec"]
    return {**spec, "FunctionArn": function_arn(row["name"]), "CreationTime": iso(row["created_at"]),
            "LastModified": iso(row["modified_at"])}
