from google.protobuf import struct_pb2 as _struct_pb2
from tessera.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UploadInfo(_message.Message):
    __slots__ = ("filename", "size")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    filename: str
    size: int
    def __init__(self, filename: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class UploadRequest(_message.Message):
    __slots__ = ("info", "chunk")
    INFO_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    info: UploadInfo
    chunk: bytes
    def __init__(self, info: _Optional[_Union[UploadInfo, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class StartIngestRequest(_message.Message):
    __slots__ = ("archive", "auto_finalize", "dataset_name", "keep_fields")
    ARCHIVE_FIELD_NUMBER: _ClassVar[int]
    AUTO_FINALIZE_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    KEEP_FIELDS_FIELD_NUMBER: _ClassVar[int]
    archive: _common_pb2.ArtifactRef
    auto_finalize: bool
    dataset_name: str
    keep_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, archive: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., auto_finalize: _Optional[bool] = ..., dataset_name: _Optional[str] = ..., keep_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class GetPlanRequest(_message.Message):
    __slots__ = ("upload_id",)
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    def __init__(self, upload_id: _Optional[str] = ...) -> None: ...

class Finding(_message.Message):
    __slots__ = ("level", "file", "series_id", "message")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    SERIES_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    level: str
    file: str
    series_id: str
    message: str
    def __init__(self, level: _Optional[str] = ..., file: _Optional[str] = ..., series_id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class SeriesPlan(_message.Message):
    __slots__ = ("datatype", "suffix", "entities", "exclude", "confidence", "messages")
    class EntitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DATATYPE_FIELD_NUMBER: _ClassVar[int]
    SUFFIX_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    datatype: str
    suffix: str
    entities: _containers.ScalarMap[str, str]
    exclude: bool
    confidence: float
    messages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, datatype: _Optional[str] = ..., suffix: _Optional[str] = ..., entities: _Optional[_Mapping[str, str]] = ..., exclude: _Optional[bool] = ..., confidence: _Optional[float] = ..., messages: _Optional[_Iterable[str]] = ...) -> None: ...

class SeriesEntry(_message.Message):
    __slots__ = ("series_id", "subject", "session", "series_number", "series_description", "protocol_name", "acquisition_time", "files", "converted", "metadata", "plan", "intended_for", "bids_name")
    SERIES_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    SERIES_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SERIES_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_NAME_FIELD_NUMBER: _ClassVar[int]
    ACQUISITION_TIME_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    INTENDED_FOR_FIELD_NUMBER: _ClassVar[int]
    BIDS_NAME_FIELD_NUMBER: _ClassVar[int]
    series_id: str
    subject: str
    session: str
    series_number: int
    series_description: str
    protocol_name: str
    acquisition_time: str
    files: _containers.RepeatedScalarFieldContainer[str]
    converted: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    plan: SeriesPlan
    intended_for: _containers.RepeatedScalarFieldContainer[str]
    bids_name: str
    def __init__(self, series_id: _Optional[str] = ..., subject: _Optional[str] = ..., session: _Optional[str] = ..., series_number: _Optional[int] = ..., series_description: _Optional[str] = ..., protocol_name: _Optional[str] = ..., acquisition_time: _Optional[str] = ..., files: _Optional[_Iterable[str]] = ..., converted: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., plan: _Optional[_Union[SeriesPlan, _Mapping]] = ..., intended_for: _Optional[_Iterable[str]] = ..., bids_name: _Optional[str] = ...) -> None: ...

class EventColumns(_message.Message):
    __slots__ = ("onset", "duration", "trial_type", "unit")
    ONSET_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    TRIAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    onset: str
    duration: str
    trial_type: str
    unit: str
    def __init__(self, onset: _Optional[str] = ..., duration: _Optional[str] = ..., trial_type: _Optional[str] = ..., unit: _Optional[str] = ...) -> None: ...

class EventLogEntry(_message.Message):
    __slots__ = ("file", "format", "series_id", "columns", "run_start", "confidence", "messages")
    FILE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SERIES_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    RUN_START_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    file: str
    format: str
    series_id: str
    columns: EventColumns
    run_start: float
    confidence: float
    messages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, file: _Optional[str] = ..., format: _Optional[str] = ..., series_id: _Optional[str] = ..., columns: _Optional[_Union[EventColumns, _Mapping]] = ..., run_start: _Optional[float] = ..., confidence: _Optional[float] = ..., messages: _Optional[_Iterable[str]] = ...) -> None: ...

class BidsPlan(_message.Message):
    __slots__ = ("upload_id", "version", "dataset_name", "series", "event_logs", "findings")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    EVENT_LOGS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    version: int
    dataset_name: str
    series: _containers.RepeatedCompositeFieldContainer[SeriesEntry]
    event_logs: _containers.RepeatedCompositeFieldContainer[EventLogEntry]
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    def __init__(self, upload_id: _Optional[str] = ..., version: _Optional[int] = ..., dataset_name: _Optional[str] = ..., series: _Optional[_Iterable[_Union[SeriesEntry, _Mapping]]] = ..., event_logs: _Optional[_Iterable[_Union[EventLogEntry, _Mapping]]] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ...) -> None: ...

class SeriesEdit(_message.Message):
    __slots__ = ("series_id", "datatype", "suffix", "set_entities", "remove_entities", "exclude", "subject", "session", "intended_for")
    class SetEntitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SERIES_ID_FIELD_NUMBER: _ClassVar[int]
    DATATYPE_FIELD_NUMBER: _ClassVar[int]
    SUFFIX_FIELD_NUMBER: _ClassVar[int]
    SET_ENTITIES_FIELD_NUMBER: _ClassVar[int]
    REMOVE_ENTITIES_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    INTENDED_FOR_FIELD_NUMBER: _ClassVar[int]
    series_id: str
    datatype: str
    suffix: str
    set_entities: _containers.ScalarMap[str, str]
    remove_entities: _containers.RepeatedScalarFieldContainer[str]
    exclude: bool
    subject: str
    session: str
    intended_for: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, series_id: _Optional[str] = ..., datatype: _Optional[str] = ..., suffix: _Optional[str] = ..., set_entities: _Optional[_Mapping[str, str]] = ..., remove_entities: _Optional[_Iterable[str]] = ..., exclude: _Optional[bool] = ..., subject: _Optional[str] = ..., session: _Optional[str] = ..., intended_for: _Optional[_Iterable[str]] = ...) -> None: ...

class EventLogEdit(_message.Message):
    __slots__ = ("file", "series_id", "columns", "run_start")
    FILE_FIELD_NUMBER: _ClassVar[int]
    SERIES_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    RUN_START_FIELD_NUMBER: _ClassVar[int]
    file: str
    series_id: str
    columns: EventColumns
    run_start: float
    def __init__(self, file: _Optional[str] = ..., series_id: _Optional[str] = ..., columns: _Optional[_Union[EventColumns, _Mapping]] = ..., run_start: _Optional[float] = ...) -> None: ...

class UpdatePlanRequest(_message.Message):
    __slots__ = ("upload_id", "expected_version", "series", "event_logs", "dataset_name")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    EVENT_LOGS_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    expected_version: int
    series: _containers.RepeatedCompositeFieldContainer[SeriesEdit]
    event_logs: _containers.RepeatedCompositeFieldContainer[EventLogEdit]
    dataset_name: str
    def __init__(self, upload_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., series: _Optional[_Iterable[_Union[SeriesEdit, _Mapping]]] = ..., event_logs: _Optional[_Iterable[_Union[EventLogEdit, _Mapping]]] = ..., dataset_name: _Optional[str] = ...) -> None: ...

class FinalizeRequest(_message.Message):
    __slots__ = ("upload_id", "keep_fields")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    KEEP_FIELDS_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    keep_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, upload_id: _Optional[str] = ..., keep_fields: _Optional[_Iterable[str]] = ...) -> None: ...
