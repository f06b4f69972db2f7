from tessera.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CompressionMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPRESSION_METHOD_UNSPECIFIED: _ClassVar[CompressionMethod]
    COMPRESSION_METHOD_PWF: _ClassVar[CompressionMethod]
    COMPRESSION_METHOD_KMEANS: _ClassVar[CompressionMethod]
    COMPRESSION_METHOD_INT8: _ClassVar[CompressionMethod]
    COMPRESSION_METHOD_MAGNITUDE: _ClassVar[CompressionMethod]
    COMPRESSION_METHOD_GMP: _ClassVar[CompressionMethod]
    COMPRESSION_METHOD_CHANNEL: _ClassVar[CompressionMethod]
    COMPRESSION_METHOD_NM: _ClassVar[CompressionMethod]
    COMPRESSION_METHOD_MOVEMENT: _ClassVar[CompressionMethod]
    COMPRESSION_METHOD_LTH: _ClassVar[CompressionMethod]
COMPRESSION_METHOD_UNSPECIFIED: CompressionMethod
COMPRESSION_METHOD_PWF: CompressionMethod
COMPRESSION_METHOD_KMEANS: CompressionMethod
COMPRESSION_METHOD_INT8: CompressionMethod
COMPRESSION_METHOD_MAGNITUDE: CompressionMethod
COMPRESSION_METHOD_GMP: CompressionMethod
COMPRESSION_METHOD_CHANNEL: CompressionMethod
COMPRESSION_METHOD_NM: CompressionMethod
COMPRESSION_METHOD_MOVEMENT: CompressionMethod
COMPRESSION_METHOD_LTH: CompressionMethod

class EstimateTrainingAccuracyRequest(_message.Message):
    __slots__ = ("d", "n", "l")
    D_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    L_FIELD_NUMBER: _ClassVar[int]
    d: int
    n: int
    l: int
    def __init__(self, d: _Optional[int] = ..., n: _Optional[int] = ..., l: _Optional[int] = ...) -> None: ...

class EstimateTrainingAccuracyResponse(_message.Message):
    __slots__ = ("training_accuracy", "regions", "points_per_region", "method")
    TRAINING_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    POINTS_PER_REGION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    training_accuracy: float
    regions: float
    points_per_region: float
    method: str
    def __init__(self, training_accuracy: _Optional[float] = ..., regions: _Optional[float] = ..., points_per_region: _Optional[float] = ..., method: _Optional[str] = ...) -> None: ...

class ModelRef(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class DatasetRef(_message.Message):
    __slots__ = ("name", "uri", "split")
    NAME_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    name: str
    uri: _common_pb2.ArtifactRef
    split: str
    def __init__(self, name: _Optional[str] = ..., uri: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., split: _Optional[str] = ...) -> None: ...

class CompressRequest(_message.Message):
    __slots__ = ("model", "dataset", "method", "config_json", "output_model", "seed")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_MODEL_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    model: ModelRef
    dataset: DatasetRef
    method: CompressionMethod
    config_json: str
    output_model: str
    seed: int
    def __init__(self, model: _Optional[_Union[ModelRef, _Mapping]] = ..., dataset: _Optional[_Union[DatasetRef, _Mapping]] = ..., method: _Optional[_Union[CompressionMethod, str]] = ..., config_json: _Optional[str] = ..., output_model: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class RoundProgress(_message.Message):
    __slots__ = ("round", "rounds", "fixed_fraction", "unique_values", "accuracy", "loss")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    FIXED_FRACTION_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_VALUES_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    round: int
    rounds: int
    fixed_fraction: float
    unique_values: int
    accuracy: float
    loss: float
    def __init__(self, round: _Optional[int] = ..., rounds: _Optional[int] = ..., fixed_fraction: _Optional[float] = ..., unique_values: _Optional[int] = ..., accuracy: _Optional[float] = ..., loss: _Optional[float] = ...) -> None: ...

class CompressResult(_message.Message):
    __slots__ = ("output_model", "model", "report", "plot", "rounds")
    OUTPUT_MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    PLOT_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    output_model: ModelRef
    model: _common_pb2.ArtifactRef
    report: _common_pb2.ArtifactRef
    plot: _common_pb2.ArtifactRef
    rounds: _containers.RepeatedCompositeFieldContainer[RoundProgress]
    def __init__(self, output_model: _Optional[_Union[ModelRef, _Mapping]] = ..., model: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., report: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., plot: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., rounds: _Optional[_Iterable[_Union[RoundProgress, _Mapping]]] = ...) -> None: ...

class ModelCompressedEvent(_message.Message):
    __slots__ = ("job_id", "source_model", "output_model", "method", "model", "report", "plot", "accuracy", "baseline_accuracy", "unique_values", "sparsity", "compressed_bytes", "fp32_bytes")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_MODEL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_MODEL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    PLOT_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    BASELINE_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_VALUES_FIELD_NUMBER: _ClassVar[int]
    SPARSITY_FIELD_NUMBER: _ClassVar[int]
    COMPRESSED_BYTES_FIELD_NUMBER: _ClassVar[int]
    FP32_BYTES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    source_model: ModelRef
    output_model: ModelRef
    method: str
    model: _common_pb2.ArtifactRef
    report: _common_pb2.ArtifactRef
    plot: _common_pb2.ArtifactRef
    accuracy: float
    baseline_accuracy: float
    unique_values: int
    sparsity: float
    compressed_bytes: float
    fp32_bytes: float
    def __init__(self, job_id: _Optional[str] = ..., source_model: _Optional[_Union[ModelRef, _Mapping]] = ..., output_model: _Optional[_Union[ModelRef, _Mapping]] = ..., method: _Optional[str] = ..., model: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., report: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., plot: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., accuracy: _Optional[float] = ..., baseline_accuracy: _Optional[float] = ..., unique_values: _Optional[int] = ..., sparsity: _Optional[float] = ..., compressed_bytes: _Optional[float] = ..., fp32_bytes: _Optional[float] = ...) -> None: ...
