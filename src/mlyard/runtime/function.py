"""Runs one invocation of a workflow's function (``lambda:invoke``) inside its processing job.

``python -m mlyard.runtime.function --handler module:function --event FILE --result FILE
--failure FILE [--code DIR] [--name NAME] [--timeout SECONDS]``: imports the handler (from the
code folder first), calls it with the event (and a Lambda-like context when it takes two
arguments), and writes its JSON result. A handler that raises, or returns what JSON cannot hold,
fails the job: the failure file gets ``{"errorType", "errorMessage", "stackTrace"}`` as Lambda
reports a function's error, which becomes the job's FailureReason and the task's error.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any

__all__ = ["main", "FAILURE_LIMIT"]

FAILURE_LIMIT = 1000  # bytes: the job's FailureReason holds at most 1024


class MarshalError(Exception):
    """The handler returned what JSON cannot hold."""


def _context(name: str, function: str, timeout: float) -> SimpleNamespace:
    started = time.monotonic()
    return SimpleNamespace(
        function_name=function, function_version="$LATEST", aws_request_id=name,
        invoked_function_arn=f"arn:aws:lambda:local:000000000000:function:{function}",
        get_remaining_time_in_millis=lambda: max(0, int((timeout - (time.monotonic() - started)) * 1000)))


def _call(handler: Any, event: Any, context: SimpleNamespace) -> Any:
    try:
        params = [p for p in inspect.signature(handler).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        takes_context = len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL
                                                for p in inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature
        takes_context = False
    return handler(event, context) if takes_context else handler(event)


def failure(exc: BaseException) -> str:
    """The failure record of ``exc`` (Lambda's shape), cut to fit a FailureReason."""
    if isinstance(exc, MarshalError):
        kind = "Runtime.MarshalError"
    elif isinstance(exc, ImportError):
        kind = "Runtime.ImportModuleError"
    else:
        kind = type(exc).__name__
    frames = [f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in traceback.extract_tb(exc.__traceback__)]
    record = {"errorType": kind, "errorMessage": str(exc)[:400], "stackTrace": frames[-6:]}
    text = json.dumps(record)
    while len(text.encode()) > FAILURE_LIMIT and record["stackTrace"]:
        record["stackTrace"] = record["stackTrace"][1:]
        text = json.dumps(record)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlyard.runtime.function")
    parser.add_argument("--handler", required=True)
    parser.add_argument("--event", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--failure", required=True)
    parser.add_argument("--code")
    parser.add_argument("--name", default="")
    parser.add_argument("--function", default="")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args(argv)
    failure_file = Path(args.failure).resolve()  # before the handler can change the directory
    result_file = Path(args.result).resolve()
    try:
        if args.code and Path(args.code).is_dir():
            sys.path.insert(0, str(Path(args.code).resolve()))
        module, _, attr = args.handler.partition(":")
        handler = getattr(importlib.import_module(module), attr)
        event = json.loads(Path(args.event).read_text())
        result = _call(handler, event, _context(args.name, args.function, args.timeout))
        try:
            data = json.dumps(result)
        except (TypeError, ValueError) as exc:
            raise MarshalError(f"the function's result cannot be written as JSON: {exc}") from None
        result_file.parent.mkdir(parents=True, exist_ok=True)
        result_file.write_text(data)
        return 0
    except Exception as exc:
        traceback.print_exc()
        failure_file.parent.mkdir(parents=True, exist_ok=True)
        failure_file.write_text(failure(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
