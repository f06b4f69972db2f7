from tessera.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PointRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POINT_ROLE_UNSPECIFIED: _ClassVar[PointRole]
    POINT_ROLE_CORE: _ClassVar[PointRole]
    POINT_ROLE_BORDER: _ClassVar[PointRole]
    POINT_ROLE_NOISE: _ClassVar[PointRole]
POINT_ROLE_UNSPECIFIED: PointRole
POINT_ROLE_CORE: PointRole
POINT_ROLE_BORDER: PointRole
POINT_ROLE_NOISE: PointRole

class Point(_message.Message):
    __slots__ = ("id", "lat", "lon", "series", "weight")
    ID_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    id: str
    lat: float
    lon: float
    series: _containers.RepeatedScalarFieldContainer[float]
    weight: float
    def __init__(self, id: _Optional[str] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., series: _Optional[_Iterable[float]] = ..., weight: _Optional[float] = ...) -> None: ...

class ScaddaOptions(_message.Message):
    __slots__ = ("s_limit", "t_limit", "minimum_neighbors", "steepness", "window_steps", "window_fraction", "metric", "algorithm", "bandwidth_rule", "bandwidth_factor", "bandwidth_km", "z_normalization", "outlier_perc")
    S_LIMIT_FIELD_NUMBER: _ClassVar[int]
    T_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_NEIGHBORS_FIELD_NUMBER: _ClassVar[int]
    STEEPNESS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_STEPS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FRACTION_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_RULE_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_FACTOR_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_KM_FIELD_NUMBER: _ClassVar[int]
    Z_NORMALIZATION_FIELD_NUMBER: _ClassVar[int]
    OUTLIER_PERC_FIELD_NUMBER: _ClassVar[int]
    s_limit: float
    t_limit: float
    minimum_neighbors: int
    steepness: float
    window_steps: int
    window_fraction: float
    metric: str
    algorithm: str
    bandwidth_rule: str
    bandwidth_factor: float
    bandwidth_km: float
    z_normalization: bool
    outlier_perc: float
    def __init__(self, s_limit: _Optional[float] = ..., t_limit: _Optional[float] = ..., minimum_neighbors: _Optional[int] = ..., steepness: _Optional[float] = ..., window_steps: _Optional[int] = ..., window_fraction: _Optional[float] = ..., metric: _Optional[str] = ..., algorithm: _Optional[str] = ..., bandwidth_rule: _Optional[str] = ..., bandwidth_factor: _Optional[float] = ..., bandwidth_km: _Optional[float] = ..., z_normalization: _Optional[bool] = ..., outlier_perc: _Optional[float] = ...) -> None: ...

class ClusterRequest(_message.Message):
    __slots__ = ("points", "channels", "options", "plots")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    PLOTS_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[Point]
    channels: int
    options: ScaddaOptions
    plots: bool
    def __init__(self, points: _Optional[_Iterable[_Union[Point, _Mapping]]] = ..., channels: _Optional[int] = ..., options: _Optional[_Union[ScaddaOptions, _Mapping]] = ..., plots: _Optional[bool] = ...) -> None: ...

class ClusterSummary(_message.Message):
    __slots__ = ("label", "size", "core", "centroid_lat", "centroid_lon", "lat_min", "lat_max", "lon_min", "lon_max", "mean_series", "dominant_period", "peak_step")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CORE_FIELD_NUMBER: _ClassVar[int]
    CENTROID_LAT_FIELD_NUMBER: _ClassVar[int]
    CENTROID_LON_FIELD_NUMBER: _ClassVar[int]
    LAT_MIN_FIELD_NUMBER: _ClassVar[int]
    LAT_MAX_FIELD_NUMBER: _ClassVar[int]
    LON_MIN_FIELD_NUMBER: _ClassVar[int]
    LON_MAX_FIELD_NUMBER: _ClassVar[int]
    MEAN_SERIES_FIELD_NUMBER: _ClassVar[int]
    DOMINANT_PERIOD_FIELD_NUMBER: _ClassVar[int]
    PEAK_STEP_FIELD_NUMBER: _ClassVar[int]
    label: int
    size: int
    core: int
    centroid_lat: float
    centroid_lon: float
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float
    mean_series: _containers.RepeatedScalarFieldContainer[float]
    dominant_period: float
    peak_step: int
    def __init__(self, label: _Optional[int] = ..., size: _Optional[int] = ..., core: _Optional[int] = ..., centroid_lat: _Optional[float] = ..., centroid_lon: _Optional[float] = ..., lat_min: _Optional[float] = ..., lat_max: _Optional[float] = ..., lon_min: _Optional[float] = ..., lon_max: _Optional[float] = ..., mean_series: _Optional[_Iterable[float]] = ..., dominant_period: _Optional[float] = ..., peak_step: _Optional[int] = ...) -> None: ...

class StageStats(_message.Message):
    __slots__ = ("stage", "points", "spatial_pairs", "neighbour_pairs", "clusters", "s_limit", "t_limit", "steepness")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    SPATIAL_PAIRS_FIELD_NUMBER: _ClassVar[int]
    NEIGHBOUR_PAIRS_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    S_LIMIT_FIELD_NUMBER: _ClassVar[int]
    T_LIMIT_FIELD_NUMBER: _ClassVar[int]
    STEEPNESS_FIELD_NUMBER: _ClassVar[int]
    stage: int
    points: int
    spatial_pairs: int
    neighbour_pairs: int
    clusters: int
    s_limit: float
    t_limit: float
    steepness: float
    def __init__(self, stage: _Optional[int] = ..., points: _Optional[int] = ..., spatial_pairs: _Optional[int] = ..., neighbour_pairs: _Optional[int] = ..., clusters: _Optional[int] = ..., s_limit: _Optional[float] = ..., t_limit: _Optional[float] = ..., steepness: _Optional[float] = ...) -> None: ...

class ClusterResponse(_message.Message):
    __slots__ = ("ids", "labels", "roles", "stages", "densities", "clusters", "stage_stats", "n_clusters", "n_noise", "map_png", "series_png")
    IDS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    DENSITIES_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    STAGE_STATS_FIELD_NUMBER: _ClassVar[int]
    N_CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    N_NOISE_FIELD_NUMBER: _ClassVar[int]
    MAP_PNG_FIELD_NUMBER: _ClassVar[int]
    SERIES_PNG_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    labels: _containers.RepeatedScalarFieldContainer[int]
    roles: _containers.RepeatedScalarFieldContainer[PointRole]
    stages: _containers.RepeatedScalarFieldContainer[int]
    densities: _containers.RepeatedScalarFieldContainer[float]
    clusters: _containers.RepeatedCompositeFieldContainer[ClusterSummary]
    stage_stats: _containers.RepeatedCompositeFieldContainer[StageStats]
    n_clusters: int
    n_noise: int
    map_png: bytes
    series_png: bytes
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., labels: _Optional[_Iterable[int]] = ..., roles: _Optional[_Iterable[_Union[PointRole, str]]] = ..., stages: _Optional[_Iterable[int]] = ..., densities: _Optional[_Iterable[float]] = ..., clusters: _Optional[_Iterable[_Union[ClusterSummary, _Mapping]]] = ..., stage_stats: _Optional[_Iterable[_Union[StageStats, _Mapping]]] = ..., n_clusters: _Optional[int] = ..., n_noise: _Optional[int] = ..., map_png: _Optional[bytes] = ..., series_png: _Optional[bytes] = ...) -> None: ...

class ClusterJobRequest(_message.Message):
    __slots__ = ("table", "format", "options", "name")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    table: _common_pb2.ArtifactRef
    format: str
    options: ScaddaOptions
    name: str
    def __init__(self, table: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., format: _Optional[str] = ..., options: _Optional[_Union[ScaddaOptions, _Mapping]] = ..., name: _Optional[str] = ...) -> None: ...

class SuggestParametersRequest(_message.Message):
    __slots__ = ("points", "table", "format", "channels", "minimum_neighbors", "metric", "window_steps", "window_fraction", "z_normalization", "sample", "seed", "curve_points")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_NEIGHBORS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    WINDOW_STEPS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FRACTION_FIELD_NUMBER: _ClassVar[int]
    Z_NORMALIZATION_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CURVE_POINTS_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[Point]
    table: _common_pb2.ArtifactRef
    format: str
    channels: int
    minimum_neighbors: int
    metric: str
    window_steps: int
    window_fraction: float
    z_normalization: bool
    sample: int
    seed: int
    curve_points: int
    def __init__(self, points: _Optional[_Iterable[_Union[Point, _Mapping]]] = ..., table: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., format: _Optional[str] = ..., channels: _Optional[int] = ..., minimum_neighbors: _Optional[int] = ..., metric: _Optional[str] = ..., window_steps: _Optional[int] = ..., window_fraction: _Optional[float] = ..., z_normalization: _Optional[bool] = ..., sample: _Optional[int] = ..., seed: _Optional[int] = ..., curve_points: _Optional[int] = ...) -> None: ...

class SuggestParametersResponse(_message.Message):
    __slots__ = ("s_limit", "t_limit", "spatial_curve", "temporal_curve", "points")
    S_LIMIT_FIELD_NUMBER: _ClassVar[int]
    T_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SPATIAL_CURVE_FIELD_NUMBER: _ClassVar[int]
    TEMPORAL_CURVE_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    s_limit: float
    t_limit: float
    spatial_curve: _containers.RepeatedScalarFieldContainer[float]
    temporal_curve: _containers.RepeatedScalarFieldContainer[float]
    points: int
    def __init__(self, s_limit: _Optional[float] = ..., t_limit: _Optional[float] = ..., spatial_curve: _Optional[_Iterable[float]] = ..., temporal_curve: _Optional[_Iterable[float]] = ..., points: _Optional[int] = ...) -> None: ...
