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
import os
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any

__all__ = ["main", "FAILURE_LIMIT"]

FAILURE_LIMIT = 1000  # bytes: the job's FailureReason holds at most 1024
RESULT_LIMIT = 256 * 1024  # bytes of a result, as Step Functions' payload limit
IN_FUNCTION_JOB = "MLYARD_FUNCTION_JOB"  # set while a function's module is imported in its job


class ResultTooLarge(Exception):
    """The handler's result is over the payload limit."""


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
    elif isinstance(exc, ResultTooLarge):
        kind = "States.DataLimitExceeded"
    elif isinstance(exc, ImportError):
        kind = "Runtime.ImportModuleError"
    else:
        kind = type(exc).__name__
    frames = [f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in traceback.extract_tb(exc.__traceback__)]
    record: dict[str, Any] = {"errorType": kind[:100], "errorMessage": str(exc)[:400], "stackTrace": frames[-6:]}
    text = json.dumps(record)
    while len(text.encode()) > FAILURE_LIMIT:  # frames first, then the message: the error's name stays
        if record["stackTrace"]:
            record["stackTrace"] = record["stackTrace"][1:]
        else:
            record["errorMessage"] = record["errorMessage"][: len(record["errorMessage"]) // 2] + "..."
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
        os.environ[IN_FUNCTION_JOB] = "1"  # a module that registers its function on import does not here
        handler = getattr(importlib.import_module(module), attr)
        event = json.loads(Path(args.event).read_text())
        try:
            result = _call(handler, event, _context(args.name, args.function, args.timeout))
        except SystemExit as exc:
            raise RuntimeError(f"the function called exit({exc.code!r}) instead of returning") from None
        try:
            data = json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise MarshalError(f"the function's result cannot be written as JSON: {exc}") from None
        if len(data.encode()) > RESULT_LIMIT:
            raise ResultTooLarge(f"the function's result is {len(data.encode())} bytes; at most {RESULT_LIMIT} "
                                 "may be returned: store large data and return its URI")
        result_file.parent.mkdir(parents=True, exist_ok=True)
        result_file.write_text(data)
        return 0
    except (Exception, SystemExit) as exc:
        traceback.print_exc()
        failure_file.parent.mkdir(parents=True, exist_ok=True)
        failure_file.write_text(failure(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
