"""Workflow templates: ``TrainingPipeline`` (train, create the model, configure and deploy an
endpoint) and ``InferencePipeline`` (train a preprocessor, transform the training data with it,
train the model on that, deploy both as one serial inference pipeline), as the Step Functions Data
Science SDK has them. A template's task parameters travel as
the execution's input (each state reads ``$$.Execution.Input['<state>']``), so each ``execute``
can name its job, model and endpoint anew."""

from __future__ import annotations

import copy
import time
from typing import Any

from mlyard.stepfunctions.steps import Chain
from mlyard.stepfunctions.steps.sagemaker import (
    EndpointConfigStep,
    EndpointStep,
    ModelStep,
    TrainingStep,
    TransformStep,
)
from mlyard.stepfunctions.steps.states import State
from mlyard.stepfunctions.workflow import Execution, Workflow

__all__ = ["WorkflowTemplate", "TrainingPipeline", "InferencePipeline"]


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

    def _deploy_as(self, name: str, inputs: dict[str, Any]) -> Execution:
        """Run the workflow on ``inputs``, its endpoint configuration and endpoint named ``name``
        (the model they serve too); the workflow is created first if it is not yet."""
        config = inputs["Configure Endpoint"]
        config["EndpointConfigName"] = name
        config["ProductionVariants"][0]["ModelName"] = name
        inputs["Deploy"].update(EndpointName=name, EndpointConfigName=name)
        if self.workflow.state_machine_arn is None:
            self.workflow.create()
        return self.workflow.execute(inputs=inputs)

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
        return self._deploy_as(name, inputs)


class InferencePipeline(WorkflowTemplate):
    """Train Preprocessor -> Create Preprocessor Model -> Transform Input -> Training -> Create
    Pipeline Model -> Configure Endpoint -> Deploy. The preprocessor's model transforms the
    training channel (``inputs['train']``, or ``inputs`` itself); the estimator trains on what it
    wrote; the endpoint serves both models as one serial inference pipeline, preprocessor first."""

    def __init__(self, preprocessor: Any, estimator: Any, inputs: Any, s3_bucket: str, role: str | None,
                 client: Any = None, **kwargs: Any) -> None:
        from mlyard.pipeline import PipelineModel
        from mlyard.transformer import Transformer

        unknown = set(kwargs) - {"compression_type", "content_type", "pipeline_name"}
        if unknown:
            raise TypeError(f"InferencePipeline got unexpected arguments {sorted(unknown)} (its keyword arguments are "
                            "compression_type, content_type and pipeline_name)")
        self.preprocessor, self.estimator, self.inputs = preprocessor, estimator, inputs
        self.pipeline_name = kwargs.get("pipeline_name") or f"inference-pipeline-{_stamp()}"
        train_data = inputs.get("train") if isinstance(inputs, dict) else inputs
        if train_data is None:
            raise ValueError("InferencePipeline's inputs need a 'train' channel (or are one data location)")
        pre_train = TrainingStep("Train Preprocessor", estimator=preprocessor, job_name="placeholder-preprocessor",
                                 data=inputs)
        pre_model = ModelStep("Create Preprocessor Model", model=pre_train.get_expected_model(),
                              model_name="placeholder-preprocessor")
        transformer = Transformer("placeholder-preprocessor", preprocessor.instance_count,
                                  preprocessor.instance_type, strategy="MultiRecord", assemble_with="Line",
                                  max_payload=20, sagemaker_session=preprocessor.sagemaker_session)
        transform = TransformStep("Transform Input", transformer=transformer, job_name="placeholder-preprocessor",
                                  model_name="placeholder-preprocessor", data=train_data,
                                  content_type=kwargs.get("content_type"),
                                  compression_type=kwargs.get("compression_type"), split_type="Line")
        training = TrainingStep("Training", estimator=estimator, job_name="placeholder-estimator", data=inputs)
        both = PipelineModel([pre_train.get_expected_model(), training.get_expected_model()], role=role,
                             sagemaker_session=estimator.sagemaker_session)
        pipeline_model = ModelStep("Create Pipeline Model", model=both, model_name="placeholder")
        config = EndpointConfigStep("Configure Endpoint", endpoint_config_name="placeholder",
                                    model_name="placeholder", initial_instance_count=estimator.instance_count,
                                    instance_type=estimator.instance_type)
        deploy = EndpointStep("Deploy", endpoint_name="placeholder", endpoint_config_name="placeholder")
        steps: list[State] = [pre_train, pre_model, transform, training, pipeline_model, config, deploy]
        workflow = Workflow(self.pipeline_name, Chain(steps), role, client=client)
        super().__init__(s3_bucket, workflow, role, client)
        self._lift_parameters(steps)

    def execute(self, job_name: str | None = None, hyperparameters: dict[str, Any] | None = None) -> Execution:
        """Run the pipeline once: the preprocessor's training job and model are named
        ``preprocessor-<job_name>``, its transform job ``preprocessor-transform-<job_name>`` (mlyard's
        job names are unique across kinds), the estimator's training job ``estimator-<job_name>``,
        and the pipeline model, endpoint configuration and endpoint ``job_name`` (at most 40
        characters; by default ``pipeline-<time>``). ``hyperparameters`` are the estimator's."""
        name = job_name or f"pipeline-{_stamp()}"
        if len(name) > 40:  # the longest name made from it, preprocessor-transform-<name>, has at most 63
            raise ValueError(f"job_name {name!r} has {len(name)} characters; give at most 40 (the jobs made from it "
                             "are named preprocessor-transform-<job_name>, estimator-<job_name>, ...)")
        pre, est = f"preprocessor-{name}", f"estimator-{name}"
        inputs = copy.deepcopy(self.input_template)
        models = f"s3://{self.s3_bucket}/{self.pipeline_name}/models"
        transformed = f"s3://{self.s3_bucket}/{self.pipeline_name}/{pre}/transform"
        inputs["Train Preprocessor"]["TrainingJobName"] = pre
        inputs["Train Preprocessor"]["OutputDataConfig"]["S3OutputPath"] = models
        inputs["Create Preprocessor Model"]["ModelName"] = pre
        inputs["Create Preprocessor Model"]["PrimaryContainer"]["ModelDataUrl"] = f"{models}/{pre}/output/model.tar.gz"
        transform = inputs["Transform Input"]
        transform.update(TransformJobName=f"preprocessor-transform-{name}", ModelName=pre)
        transform["TransformOutput"]["S3OutputPath"] = transformed
        training = inputs["Training"]
        training["TrainingJobName"] = est
        training["OutputDataConfig"]["S3OutputPath"] = models
        channels = training["InputDataConfig"]
        channel = next((c for c in channels if c["ChannelName"] == "train"), channels[0])
        channel["DataSource"]["S3DataSource"]["S3Uri"] = transformed
        if hyperparameters:
            from mlyard.hyperparameters import encode_hyperparameters

            training["HyperParameters"].update(encode_hyperparameters(hyperparameters))
        model = inputs["Create Pipeline Model"]
        model["ModelName"] = name
        model["Containers"][0]["ModelDataUrl"] = f"{models}/{pre}/output/model.tar.gz"
        model["Containers"][1]["ModelDataUrl"] = f"{models}/{est}/output/model.tar.gz"
        return self._deploy_as(name, inputs)
