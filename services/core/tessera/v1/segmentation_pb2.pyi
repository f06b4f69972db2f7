from tessera.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContrastVolume(_message.Message):
    __slots__ = ("contrast", "nifti", "ref")
    CONTRAST_FIELD_NUMBER: _ClassVar[int]
    NIFTI_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    contrast: str
    nifti: bytes
    ref: _common_pb2.ArtifactRef
    def __init__(self, contrast: _Optional[str] = ..., nifti: _Optional[bytes] = ..., ref: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ...) -> None: ...

class SegmentRequest(_message.Message):
    __slots__ = ("volumes", "model", "task")
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    volumes: _containers.RepeatedCompositeFieldContainer[ContrastVolume]
    model: str
    task: str
    def __init__(self, volumes: _Optional[_Iterable[_Union[ContrastVolume, _Mapping]]] = ..., model: _Optional[str] = ..., task: _Optional[str] = ...) -> None: ...

class ClassVolume(_message.Message):
    __slots__ = ("label", "name", "volume_ml")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VOLUME_ML_FIELD_NUMBER: _ClassVar[int]
    label: int
    name: str
    volume_ml: float
    def __init__(self, label: _Optional[int] = ..., name: _Optional[str] = ..., volume_ml: _Optional[float] = ...) -> None: ...

class StageTiming(_message.Message):
    __slots__ = ("stage", "seconds")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    seconds: float
    def __init__(self, stage: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...

class SegmentResponse(_message.Message):
    __slots__ = ("labels", "volumes", "timings", "missing_contrasts", "expected_dice_cost", "stage2_fraction", "model", "model_version")
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    MISSING_CONTRASTS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_DICE_COST_FIELD_NUMBER: _ClassVar[int]
    STAGE2_FRACTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    labels: _common_pb2.ArtifactRef
    volumes: _containers.RepeatedCompositeFieldContainer[ClassVolume]
    timings: _containers.RepeatedCompositeFieldContainer[StageTiming]
    missing_contrasts: _containers.RepeatedScalarFieldContainer[str]
    expected_dice_cost: float
    stage2_fraction: float
    model: str
    model_version: str
    def __init__(self, labels: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., volumes: _Optional[_Iterable[_Union[ClassVolume, _Mapping]]] = ..., timings: _Optional[_Iterable[_Union[StageTiming, _Mapping]]] = ..., missing_contrasts: _Optional[_Iterable[str]] = ..., expected_dice_cost: _Optional[float] = ..., stage2_fraction: _Optional[float] = ..., model: _Optional[str] = ..., model_version: _Optional[str] = ...) -> None: ...

class TrainRequest(_message.Message):
    __slots__ = ("task", "contrasts", "balanced", "epochs", "train_samples", "spacing_mm", "model", "seed")
    TASK_FIELD_NUMBER: _ClassVar[int]
    CONTRASTS_FIELD_NUMBER: _ClassVar[int]
    BALANCED_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SPACING_MM_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    task: str
    contrasts: _containers.RepeatedScalarFieldContainer[str]
    balanced: bool
    epochs: int
    train_samples: int
    spacing_mm: float
    model: str
    seed: int
    def __init__(self, task: _Optional[str] = ..., contrasts: _Optional[_Iterable[str]] = ..., balanced: _Optional[bool] = ..., epochs: _Optional[int] = ..., train_samples: _Optional[int] = ..., spacing_mm: _Optional[float] = ..., model: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...
