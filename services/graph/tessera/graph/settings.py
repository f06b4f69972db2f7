"""Settings of the graph service (``TESSERA_GRAPH_*`` on top of ``TESSERA_*``)."""

from __future__ import annotations

from pydantic import Field

from tessera.core.settings import TesseraSettings


class GraphSettings(TesseraSettings):
    service_name: str = "graph"
    graph_default_model: str = Field("hypersagnn", description="Model Predict/ScoreOutsiders/Embed use when none "
                                     "is named, and the name Train publishes under by default.")
    graph_models_prefix: str = Field("graph/models", description="Where model cards and node embeddings are stored "
                                     "(the ONNX scorer goes to the Triton model repository).")
    graph_max_sets: int = Field(100_000, gt=0, description="Most candidate sets in one Predict/ScoreOutsiders call.")
    graph_infer_batch: int = Field(64, gt=0, le=64, description="Sets per inference call (<= the Triton config's "
                                   "max_batch_size, 64).")
    graph_max_epochs: int = Field(200, gt=0, description="Largest max_epochs a Train request may ask for.")
    graph_train_device: str = Field("cpu", description="torch device Train jobs run on (\"cuda\" on a GPU node); "
                                    "the exported scorer is the same either way.")
