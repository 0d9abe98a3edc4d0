"""``Lambda`` (SageMaker's ``sagemaker.lambda_helper``): a function a pipeline's ``LambdaStep``
invokes. In mlyard a function is one registered with the control plane
(``mlyard.stepfunctions.functions.register``, or ``mlyard functions``), named by its name or ARN;
``Lambda(function_name=..., script=..., handler=...)`` registers a script's handler with
``create``/``upsert``. Each invocation runs in a job of its own, never in the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlyard.errors import ValidationError

__all__ = ["Lambda"]


class Lambda:
    def __init__(self, function_arn: str | None = None, function_name: str | None = None,
                 execution_role_arn: str | None = None, zipped_code_dir: str | None = None,
                 s3_bucket: str | None = None, script: str | None = None, handler: str | None = None,
                 session: Any = None, timeout: int = 120, memory_size: int = 128, runtime: str = "python3.11",
                 vpc_config: Any = None, environment: dict[str, Any] | None = None, layers: Any = None,
                 architectures: Any = None) -> None:
        if not function_arn and not function_name:
            raise ValidationError("Lambda needs function_arn or function_name")
        if script is not None and handler is None:
            raise ValidationError("Lambda(script=...) needs a handler, like 'module.function'")
        self.function_arn = function_arn
        self.function_name = function_name
        self.execution_role_arn = execution_role_arn
        self.script = script
        self.handler = handler
        self.session = session
        self.timeout = timeout
        self.environment = dict((environment or {}).get("Variables", environment or {}))

    @property
    def name(self) -> str:
        """The registered function's name (an ARN's last part)."""
        if self.function_name:
            return self.function_name
        assert self.function_arn is not None
        return self.function_arn.rsplit(":function:", 1)[-1].split(":")[0]

    def _client(self) -> Any:
        from mlyard.stepfunctions.functions import _client

        return _client(self.session)

    def create(self) -> dict[str, Any]:
        """Register ``script``'s ``handler`` under ``function_name``."""
        if self.script is None or self.handler is None:
            raise ValidationError("Lambda.create needs script= and handler= (or register the function with "
                                  "mlyard.stepfunctions.functions.register)")
        from mlyard.stepfunctions.functions import put

        script = Path(self.script).resolve()
        if not script.is_file():
            raise ValidationError(f"Lambda script {self.script!r} is not a file")
        module, _, function = self.handler.rpartition(".")
        if not module or not function:
            raise ValidationError(f"handler {self.handler!r} must be module.function (like 'evaluate.handler')")
        return put(self._client(), self.name, script, f"{module}:{function}",
                   environment={str(k): str(v) for k, v in self.environment.items()}, timeout=int(self.timeout))

    def upsert(self) -> dict[str, Any]:
        return self.create()

    def update(self) -> dict[str, Any]:
        return self.create()

    def invoke(self) -> Any:
        raise ValidationError("Lambda.invoke runs outside a pipeline; invoke a function from a workflow or a "
                              "LambdaStep")

    def delete(self) -> None:
        self._client().delete_function(self.name)
