"""Workflow templates: ``TrainingPipeline`` (train, create the model, configure and deploy an
endpoint), as the Step Functions Data Science SDK has it. A template's task parameters travel as
the execution's input (each state reads ``$$.Execution.Input['<state>']``), so each ``execute``
can name its job, model and endpoint anew."""

from __future__ import annotations

import copy
import time
from typing import Any

from mlyard.stepfunctions.steps import Chain
from mlyard.stepfunctions.steps.sagemaker import EndpointConfigStep, EndpointStep, ModelStep, TrainingStep
from mlyard.stepfunctions.steps.states import State
from mlyard.stepfunctions.workflow import Execution, Workflow

__all__ = ["WorkflowTemplate", "TrainingPipeline"]


def _stamp() -> str:
    return time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime()) + f"-{int(time.time() * 1000) % 1000:03d}"


class WorkflowTemplate:
    def __init__(self, s3_bucket: str, workflow: Workflow, role: str | None, client: Any = None) -> None:
        self.s3_bucket = s3_bucket
        self.workflow = workflow
        self.role = role
        self.client = client
        self.input_template: dict[str, Any] = {}

    def _lift_parameters(self, states: list[State]) -> None:
        """Each state's parameters into the input template; the state reads them from the input."""
        for state in states:
            params = state.fields.get("parameters") or {}
            self.input_template[state.state_id] = copy.deepcopy(params)
            state.fields["parameters"] = {
                f"{key}.$": f"$$.Execution.Input['{state.state_id}'].{key}" for key in params}

    def create(self) -> str:
        return self.workflow.create()

    def get_workflow(self) -> Workflow:
        return self.workflow

    def render_graph(self, portrait: bool = False) -> Any:
        return self.workflow.render_graph(portrait=portrait)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workflow={self.workflow!r})"


class TrainingPipeline(WorkflowTemplate):
    """Training -> Create Model -> Configure Endpoint -> Deploy."""

    def __init__(self, estimator: Any, role: str | None, inputs: Any, s3_bucket: str, client: Any = None,
                 **kwargs: Any) -> None:
        unknown = set(kwargs) - {"pipeline_name"}
        if unknown:
            raise TypeError(f"TrainingPipeline got unexpected arguments {sorted(unknown)} (its only keyword "
                            "argument is pipeline_name)")
        self.estimator = estimator
        self.inputs = inputs
        self.pipeline_name = kwargs.get("pipeline_name") or f"training-pipeline-{_stamp()}"
        training = TrainingStep("Training", estimator=estimator, job_name="placeholder-job", data=inputs)
        model = ModelStep("Create Model", model=training.get_expected_model(), model_name="placeholder-model")
        config = EndpointConfigStep("Configure Endpoint", endpoint_config_name="placeholder-config",
                                    model_name="placeholder-model", initial_instance_count=estimator.instance_count,
                                    instance_type=estimator.instance_type)
        deploy = EndpointStep("Deploy", endpoint_name="placeholder-endpoint",
                              endpoint_config_name="placeholder-config")
        chain = Chain([training, model, config, deploy])
        workflow = Workflow(self.pipeline_name, chain, role, client=client)
        super().__init__(s3_bucket, workflow, role, client)
        self._lift_parameters([training, model, config, deploy])

    def execute(self, job_name: str | None = None, hyperparameters: dict[str, Any] | None = None) -> Execution:
        """Run the pipeline once: the job, model, endpoint configuration and endpoint are all named
        ``job_name`` (by default ``estimator-<time>``)."""
        name = job_name or f"estimator-{_stamp()}"
        inputs = copy.deepcopy(self.input_template)
        output = f"s3://{self.s3_bucket}/{self.pipeline_name}/models"
        training = inputs["Training"]
        training["TrainingJobName"] = name
        training["OutputDataConfig"]["S3OutputPath"] = output
        if hyperparameters:
            from mlyard.hyperparameters import encode_hyperparameters

            training["HyperParameters"].update(encode_hyperparameters(hyperparameters))
        model = inputs["Create Model"]
        model["ModelName"] = name
        model["PrimaryContainer"]["ModelDataUrl"] = f"{output}/{name}/output/model.tar.gz"
        config = inputs["Configure Endpoint"]
        config["EndpointConfigName"] = name
        config["ProductionVariants"][0]["ModelName"] = name
        inputs["Deploy"].update(EndpointName=name, EndpointConfigName=name)
        if self.workflow.state_machine_arn is None:
            self.workflow.create()
        return self.workflow.execute(inputs=inputs)
