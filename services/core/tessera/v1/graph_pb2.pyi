from tessera.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeRef(_message.Message):
    __slots__ = ("type", "id", "name")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    type: str
    id: int
    name: str
    def __init__(self, type: _Optional[str] = ..., id: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class NodeSet(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeRef]
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeRef, _Mapping]]] = ...) -> None: ...

class GraphTrainRequest(_message.Message):
    __slots__ = ("data", "test_data", "format", "features", "max_epochs", "patience", "validation_fraction", "negatives", "dim", "model", "seed")
    DATA_FIELD_NUMBER: _ClassVar[int]
    TEST_DATA_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    MAX_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    PATIENCE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FRACTION_FIELD_NUMBER: _ClassVar[int]
    NEGATIVES_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    data: _common_pb2.ArtifactRef
    test_data: _common_pb2.ArtifactRef
    format: str
    features: str
    max_epochs: int
    patience: int
    validation_fraction: float
    negatives: int
    dim: int
    model: str
    seed: int
    def __init__(self, data: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., test_data: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., format: _Optional[str] = ..., features: _Optional[str] = ..., max_epochs: _Optional[int] = ..., patience: _Optional[int] = ..., validation_fraction: _Optional[float] = ..., negatives: _Optional[int] = ..., dim: _Optional[int] = ..., model: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class PredictHyperedgesRequest(_message.Message):
    __slots__ = ("model", "sets")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SETS_FIELD_NUMBER: _ClassVar[int]
    model: str
    sets: _containers.RepeatedCompositeFieldContainer[NodeSet]
    def __init__(self, model: _Optional[str] = ..., sets: _Optional[_Iterable[_Union[NodeSet, _Mapping]]] = ...) -> None: ...

class PredictHyperedgesResponse(_message.Message):
    __slots__ = ("scores", "model", "model_version")
    SCORES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    scores: _containers.RepeatedScalarFieldContainer[float]
    model: str
    model_version: str
    def __init__(self, scores: _Optional[_Iterable[float]] = ..., model: _Optional[str] = ..., model_version: _Optional[str] = ...) -> None: ...

class SetScores(_message.Message):
    __slots__ = ("node_scores", "outsider")
    NODE_SCORES_FIELD_NUMBER: _ClassVar[int]
    OUTSIDER_FIELD_NUMBER: _ClassVar[int]
    node_scores: _containers.RepeatedScalarFieldContainer[float]
    outsider: int
    def __init__(self, node_scores: _Optional[_Iterable[float]] = ..., outsider: _Optional[int] = ...) -> None: ...

class ScoreOutsidersResponse(_message.Message):
    __slots__ = ("sets", "model", "model_version")
    SETS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    sets: _containers.RepeatedCompositeFieldContainer[SetScores]
    model: str
    model_version: str
    def __init__(self, sets: _Optional[_Iterable[_Union[SetScores, _Mapping]]] = ..., model: _Optional[str] = ..., model_version: _Optional[str] = ...) -> None: ...

class EmbedRequest(_message.Message):
    __slots__ = ("model", "nodes")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    model: str
    nodes: _containers.RepeatedCompositeFieldContainer[NodeRef]
    def __init__(self, model: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[NodeRef, _Mapping]]] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("dim", "nodes", "vectors")
    DIM_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    dim: int
    nodes: _containers.RepeatedCompositeFieldContainer[NodeRef]
    vectors: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, dim: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[NodeRef, _Mapping]]] = ..., vectors: _Optional[_Iterable[float]] = ...) -> None: ...
