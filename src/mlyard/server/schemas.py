"""Request bodies of the control plane's API, in SageMaker's shapes (they make the OpenAPI schema)."""


from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class MetricDefinitionShape(_Shape):
    Name: str = Field(min_length=1, max_length=255)
    Regex: str = Field(min_length=1, max_length=500)


class AlgorithmSpecificationShape(_Shape):
    TrainingImage: str | None = None
    TrainingInputMode: Literal["File", "FastFile", "Pipe"] = "File"
    MetricDefinitions: list[MetricDefinitionShape] = []
    EnableSageMakerMetricsTimeSeries: bool | None = None


class S3DataSourceShape(_Shape):
    S3Uri: str = Field(min_length=1)
    S3DataType: Literal["S3Prefix", "ManifestFile", "S3Object"] = "S3Prefix"
    S3DataDistributionType: Literal["FullyReplicated", "ShardedByS3Key"] = "FullyReplicated"


class FileSystemDataSourceShape(_Shape):
    """SageMaker's EFS/FSx channel; for mlyard, ``DirectoryPath`` is a folder on the server's
    machine, read in place like any local input (the same source policy decides)."""

    FileSystemId: str = Field(min_length=1)
    FileSystemType: Literal["EFS", "FSxLustre"]
    DirectoryPath: str = Field(min_length=1)
    FileSystemAccessMode: Literal["ro", "rw"] = "ro"


class DataSourceShape(_Shape):
    S3DataSource: S3DataSourceShape | None = None
    FileSystemDataSource: FileSystemDataSourceShape | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "DataSourceShape":
        if (self.S3DataSource is None) == (self.FileSystemDataSource is None):
            raise ValueError("a channel's DataSource needs exactly one of S3DataSource and FileSystemDataSource")
        return self


class ChannelShape(_Shape):
    ChannelName: str = Field(pattern=r"^[A-Za-z0-9\.\-_]+$", max_length=64)
    DataSource: DataSourceShape
    ContentType: str | None = None
    CompressionType: Literal["None"] | None = None
    RecordWrapperType: Literal["None"] | None = None
    InputMode: Literal["File"] | None = None


class OutputDataConfigShape(_Shape):
    S3OutputPath: str | None = None
    KmsKeyId: str | None = None


class ResourceConfigShape(_Shape):
    InstanceType: str
    InstanceCount: int = Field(1, ge=1, le=64)
    VolumeSizeInGB: int = 30


class StoppingConditionShape(_Shape):
    MaxRuntimeInSeconds: float | None = Field(default=None, gt=0)
    MaxWaitTimeInSeconds: float | None = Field(default=None, gt=0)


class CheckpointConfigShape(_Shape):
    S3Uri: str = Field(min_length=1)
    LocalPath: str | None = None


class MlyardConfigShape(_Shape):
    BaseName: str | None = Field(default=None, max_length=63)  # without a name: the base of the one the server picks
    Framework: str | None = None
    FrameworkVersion: str | None = None
    Sandbox: bool = False
    # The Session's default bucket (and prefix) when it is not the server's: where outputs with no
    # destination go (s3://bucket/prefix/<job>/...).
    DefaultOutput: str | None = None


class _TrainingJobShape(BaseModel):
    """What a training job and a tuning job's ``TrainingJobDefinition`` share."""

    model_config = ConfigDict(extra="ignore")

    AlgorithmSpecification: AlgorithmSpecificationShape = AlgorithmSpecificationShape()
    RoleArn: str | None = None
    InputDataConfig: list[ChannelShape] = []
    OutputDataConfig: OutputDataConfigShape = OutputDataConfigShape()
    ResourceConfig: ResourceConfigShape
    StoppingCondition: StoppingConditionShape = StoppingConditionShape()
    Environment: dict[str, str] = {}
    CheckpointConfig: CheckpointConfigShape | None = None
    Tags: list[dict[str, str]] = []
    MlyardConfig: MlyardConfigShape = MlyardConfigShape()


class CreateTrainingJob(_TrainingJobShape):
    TrainingJobName: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    HyperParameters: dict[str, str] = {}


class TrainingJobDefinitionShape(_TrainingJobShape):
    StaticHyperParameters: dict[str, str] = {}


class ContinuousRangeShape(_Shape):
    Name: str = Field(min_length=1, max_length=256)
    MinValue: str | float
    MaxValue: str | float
    ScalingType: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = "Auto"


class CategoricalRangeShape(_Shape):
    Name: str = Field(min_length=1, max_length=256)
    Values: list[str]


class ParameterRangesShape(_Shape):
    ContinuousParameterRanges: list[ContinuousRangeShape] = []
    IntegerParameterRanges: list[ContinuousRangeShape] = []
    CategoricalParameterRanges: list[CategoricalRangeShape] = []
    AutoParameters: list[dict[str, str]] = []


class ObjectiveShape(_Shape):
    Type: Literal["Minimize", "Maximize"]
    MetricName: str = Field(min_length=1, max_length=255)


class ResourceLimitsShape(_Shape):
    MaxNumberOfTrainingJobs: int | None = Field(default=None, ge=1, le=10000)
    MaxParallelTrainingJobs: int = Field(default=1, ge=1, le=100)
    MaxRuntimeInSeconds: float | None = Field(default=None, gt=0)


class HyperbandConfigShape(_Shape):
    MinResource: int | None = Field(default=None, ge=1)
    MaxResource: int | None = Field(default=None, ge=1, le=20000)


class StrategyConfigShape(_Shape):
    HyperbandStrategyConfig: HyperbandConfigShape | None = None


class NotImprovingShape(_Shape):
    MaxNumberOfTrainingJobsNotImproving: int = Field(ge=1)


class ConvergenceShape(_Shape):
    CompleteOnConvergence: Literal["Disabled", "Enabled"] = "Disabled"


class CompletionCriteriaShape(_Shape):
    TargetObjectiveMetricValue: float | None = None
    BestObjectiveNotImproving: NotImprovingShape | None = None
    ConvergenceDetected: ConvergenceShape | None = None


class TuningJobConfigShape(_Shape):
    Strategy: Literal["Bayesian", "Random", "Grid", "Hyperband", "TPE"] = "Bayesian"
    StrategyConfig: StrategyConfigShape | None = None
    HyperParameterTuningJobObjective: ObjectiveShape
    ResourceLimits: ResourceLimitsShape = ResourceLimitsShape()
    ParameterRanges: ParameterRangesShape
    TrainingJobEarlyStoppingType: Literal["Off", "Auto"] = "Off"
    TuningJobCompletionCriteria: CompletionCriteriaShape | None = None
    RandomSeed: int | None = Field(default=None, ge=0, le=2**32 - 1)


class ParentTuningJobShape(_Shape):
    HyperParameterTuningJobName: str = Field(min_length=1)


class WarmStartShape(_Shape):
    ParentHyperParameterTuningJobs: list[ParentTuningJobShape] = Field(min_length=1)
    WarmStartType: Literal["IdenticalDataAndAlgorithm", "TransferLearning"]


class TuningMlyardConfigShape(_Shape):
    BaseName: str | None = Field(default=None, max_length=63)  # without a name: the base of the one the server picks
    MaxFailedShare: float = Field(default=0.5, ge=0, le=1)


class CreateTuningJob(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    HyperParameterTuningJobName: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")
    HyperParameterTuningJobConfig: TuningJobConfigShape
    TrainingJobDefinition: TrainingJobDefinitionShape
    WarmStartConfig: WarmStartShape | None = None
    Tags: list[dict[str, str]] = []
    MlyardConfig: TuningMlyardConfigShape = TuningMlyardConfigShape()


class S3InputShape(_Shape):
    S3Uri: str = Field(min_length=1)
    LocalPath: str = Field(min_length=1)
    S3DataType: Literal["S3Prefix", "ManifestFile"] = "S3Prefix"
    S3InputMode: Literal["File"] = "File"
    S3DataDistributionType: Literal["FullyReplicated", "ShardedByS3Key"] = "FullyReplicated"
    S3CompressionType: Literal["None"] = "None"


class ProcessingInputShape(_Shape):
    InputName: str = Field(pattern=r"^[A-Za-z0-9\.\-_]+$", max_length=64)
    AppManaged: bool = False
    S3Input: S3InputShape


class S3OutputShape(_Shape):
    S3Uri: str | None = None
    LocalPath: str = Field(min_length=1)
    S3UploadMode: Literal["EndOfJob", "Continuous"] = "EndOfJob"


class ProcessingOutputShape(_Shape):
    OutputName: str = Field(pattern=r"^[A-Za-z0-9\.\-_]+$", max_length=64)
    AppManaged: bool = False
    S3Output: S3OutputShape


class ProcessingOutputConfigShape(_Shape):
    Outputs: list[ProcessingOutputShape] = []
    KmsKeyId: str | None = None


class ClusterConfigShape(_Shape):
    InstanceCount: int = Field(1, ge=1, le=64)
    InstanceType: str
    VolumeSizeInGB: int = 30


class ProcessingResourcesShape(_Shape):
    ClusterConfig: ClusterConfigShape


class AppSpecificationShape(_Shape):
    ImageUri: str | None = None
    ContainerEntrypoint: list[str] = Field(min_length=1)
    ContainerArguments: list[str] = []


class ProcessingMlyardConfigShape(_Shape):
    BaseName: str | None = Field(default=None, max_length=63)  # without a name: the base of the one the server picks
    Framework: str | None = None
    FrameworkVersion: str | None = None
    Sandbox: bool = False
    MetricDefinitions: list[MetricDefinitionShape] = []
    CodeArchive: bool = False
    # The Session's default bucket (and prefix) when it is not the server's: where outputs with no
    # destination go (s3://bucket/prefix/<job>/...).
    DefaultOutput: str | None = None


class CreateProcessingJob(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ProcessingJobName: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    ProcessingInputs: list[ProcessingInputShape] = []
    ProcessingOutputConfig: ProcessingOutputConfigShape = ProcessingOutputConfigShape()
    ProcessingResources: ProcessingResourcesShape
    StoppingCondition: StoppingConditionShape = StoppingConditionShape()
    AppSpecification: AppSpecificationShape
    Environment: dict[str, str] = {}
    RoleArn: str | None = None
    Tags: list[dict[str, str]] = []
    MlyardConfig: ProcessingMlyardConfigShape = ProcessingMlyardConfigShape()


class ContainerShape(_Shape):
    Image: str | None = None
    ModelDataUrl: str | None = None
    Environment: dict[str, str] = {}
    Mode: str | None = None
    ContainerHostname: str | None = None
    SourceUrl: str | None = None  # mlyard's: the container's inference code (a sourcedir.tar.gz)


class ModelMlyardConfigShape(_Shape):
    BaseName: str | None = Field(default=None, max_length=63)  # without a name: the base of the one the server picks
    SourceUrl: str | None = None
    Framework: str | None = None
    FrameworkVersion: str | None = None


class CreateModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ModelName: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    PrimaryContainer: ContainerShape | None = None
    Containers: list[ContainerShape] | None = Field(default=None, min_length=1, max_length=15)  # a serial pipeline
    ExecutionRoleArn: str | None = None
    Tags: list[dict[str, str]] = []
    MlyardConfig: ModelMlyardConfigShape = ModelMlyardConfigShape()


class VariantShape(_Shape):
    VariantName: str = Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    ModelName: str
    InitialInstanceCount: int = Field(1, ge=1, le=32)
    InstanceType: str = "local"
    InitialVariantWeight: float = Field(1.0, ge=0)


class CaptureOptionShape(_Shape):
    CaptureMode: Literal["Input", "Output"]


class DataCaptureShape(_Shape):
    EnableCapture: bool = True
    InitialSamplingPercentage: float = Field(100, ge=0, le=100)
    DestinationS3Uri: str = Field(min_length=1)
    CaptureOptions: list[CaptureOptionShape] = [CaptureOptionShape(CaptureMode="Input"),
                                                CaptureOptionShape(CaptureMode="Output")]
    KmsKeyId: str | None = None
    CaptureContentTypeHeader: dict[str, list[str]] | None = None


class BatchingShape(_Shape):
    BaseName: str | None = Field(default=None, max_length=63)  # without a name: the base of the one the server picks
    MaxBatchSize: int = Field(default=64, ge=1, le=4096)
    MaxLatencyMs: float = Field(default=2.0, ge=0, le=1000)


class CreateEndpointConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    EndpointConfigName: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    ProductionVariants: list[VariantShape] = Field(min_length=1, max_length=10)
    DataCaptureConfig: DataCaptureShape | None = None
    Tags: list[dict[str, str]] = []
    MlyardConfig: BatchingShape = BatchingShape()


class EndpointMlyardConfigShape(_Shape):
    BaseName: str | None = Field(default=None, max_length=63)  # without a name: the base of the one the server picks
    Port: int = Field(default=0, ge=0, le=65535)


class CreateEndpoint(BaseModel):
    model_config = ConfigDict(extra="ignore")

    EndpointName: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    EndpointConfigName: str
    Tags: list[dict[str, str]] = []
    MlyardConfig: EndpointMlyardConfigShape = EndpointMlyardConfigShape()


class UpdateEndpoint(BaseModel):
    EndpointConfigName: str


class TransformS3DataSourceShape(_Shape):
    S3DataType: Literal["S3Prefix", "ManifestFile"] = "S3Prefix"
    S3Uri: str = Field(min_length=1)


class TransformDataSourceShape(_Shape):
    S3DataSource: TransformS3DataSourceShape


class TransformInputShape(_Shape):
    DataSource: TransformDataSourceShape
    ContentType: str | None = None
    CompressionType: Literal["None"] | None = None
    SplitType: Literal["None", "Line", "RecordIO", "TFRecord"] = "None"


class TransformOutputShape(_Shape):
    S3OutputPath: str | None = None
    Accept: str | None = None
    AssembleWith: Literal["None", "Line"] = "None"
    KmsKeyId: str | None = None


class TransformResourcesShape(_Shape):
    InstanceType: str
    InstanceCount: int = Field(default=1, ge=1, le=64)


class DataProcessingShape(_Shape):
    InputFilter: str | None = None
    OutputFilter: str | None = None
    JoinSource: Literal["None", "Input"] | None = None


class CreateTransformJob(BaseModel):
    model_config = ConfigDict(extra="ignore")

    TransformJobName: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    ModelName: str
    MaxConcurrentTransforms: int = Field(default=1, ge=1, le=64)
    MaxPayloadInMB: float = Field(default=6, gt=0, le=100)
    BatchStrategy: Literal["SingleRecord", "MultiRecord"] = "MultiRecord"
    Environment: dict[str, str] = {}
    TransformInput: TransformInputShape
    TransformOutput: TransformOutputShape = TransformOutputShape()
    TransformResources: TransformResourcesShape
    DataProcessing: DataProcessingShape | None = None
    Tags: list[dict[str, str]] = []
    MlyardConfig: MlyardConfigShape = MlyardConfigShape()


class CreateModelPackageGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ModelPackageGroupName: str = Field(min_length=1, max_length=63)
    ModelPackageGroupDescription: str | None = Field(default=None, max_length=1024)
    Tags: list[dict[str, str]] = []
    MlyardUser: str | None = None  # who asks (the SDK sends its user's name)


class CreateModelPackage(BaseModel):
    """SageMaker's CreateModelPackage: a version in a group (or an unversioned named package)."""

    model_config = ConfigDict(extra="forbid")

    ModelPackageGroupName: str | None = None
    ModelPackageName: str | None = None
    ModelPackageDescription: str | None = Field(default=None, max_length=1024)
    InferenceSpecification: dict[str, Any]
    ModelMetrics: dict[str, Any] | None = None
    ModelApprovalStatus: Literal["PendingManualApproval", "Approved", "Rejected"] | None = None
    ApprovalDescription: str | None = Field(default=None, max_length=1024)
    CustomerMetadataProperties: dict[str, str] | None = None
    Domain: str | None = None
    Task: str | None = None
    SourcePipelineExecutionArn: str | None = None
    Tags: list[dict[str, str]] = []
    MlyardUser: str | None = None


class UpdateModelPackage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ModelPackageArn: str
    ModelApprovalStatus: Literal["PendingManualApproval", "Approved", "Rejected"] | None = None
    ApprovalDescription: str | None = Field(default=None, max_length=1024)
    CustomerMetadataProperties: dict[str, str] | None = None
    MlyardUser: str | None = None


class ApprovalRules(BaseModel):
    """What approving a version of the group runs: [{"Workflow": name}] or [{"Pipeline": name,
    "Parameters": {parameter: field of the approval event}}]."""

    model_config = ConfigDict(extra="forbid")

    Rules: list[dict[str, Any]]


class CreatePipeline(BaseModel):
    """SageMaker's CreatePipeline: the definition is ``Pipeline.definition()``'s JSON."""

    model_config = ConfigDict(extra="forbid")

    PipelineName: str = Field(min_length=1, max_length=63)
    PipelineDefinition: str | dict[str, Any]
    RoleArn: str | None = None
    PipelineDisplayName: str | None = Field(default=None, max_length=256)
    PipelineDescription: str | None = Field(default=None, max_length=3072)
    ParallelismConfiguration: dict[str, int] | None = None
    Tags: list[dict[str, str]] = []


class UpdatePipeline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    PipelineDefinition: str | dict[str, Any] | None = None
    RoleArn: str | None = None
    PipelineDisplayName: str | None = Field(default=None, max_length=256)
    PipelineDescription: str | None = Field(default=None, max_length=3072)
    ParallelismConfiguration: dict[str, int] | None = None


class StartPipelineExecution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    PipelineExecutionDisplayName: str | None = Field(default=None, max_length=82)
    PipelineExecutionDescription: str | None = Field(default=None, max_length=3072)
    PipelineParameters: list[dict[str, Any]] = []
    ParallelismConfiguration: dict[str, int] | None = None
    SelectiveExecutionConfig: dict[str, Any] | None = None


class CreateWorkflow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    definition: dict[str, Any] | str  # Amazon States Language, as an object or as its JSON text
    roleArn: str | None = None
    type: Literal["STANDARD", "EXPRESS"] = "STANDARD"
    tags: list[dict[str, str]] = []
    schedule: dict[str, Any] | None = None  # {"expression": "rate(1 day)" | "cron(...)", "input": ...}
    # The ExecutionInput schema ({"key": "str" | "int" | "float" | "bool" | "list" | "dict" | {...}}):
    # an execution whose input does not match it is refused.
    inputSchema: dict[str, Any] | None = None


class UpdateWorkflow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any] | str | None = None
    roleArn: str | None = None
    schedule: dict[str, Any] | None = {}  # {} (the default): unchanged; null: no schedule


class StartExecution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=80)
    input: Any = None  # any JSON value, or its JSON text


class StopExecution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: str | None = Field(default=None, max_length=256)
    cause: str | None = Field(default=None, max_length=32768)


class PutFunction(BaseModel):
    """A function that workflows invoke (``lambda:invoke``), run in a processing job of its own."""

    model_config = ConfigDict(extra="forbid")

    FunctionName: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    Handler: str = Field(min_length=3, max_length=256)      # module:function
    CodeUri: str | None = None                              # a source archive (requirements.txt installed)
    Environment: dict[str, str] = {}
    Timeout: int = Field(default=900, ge=1, le=86400)       # seconds: the job's MaxRuntimeInSeconds
    InstanceType: str | None = None
    Sandbox: bool = False
    Description: str = Field(default="", max_length=256)
