"""tessera.core: the one library every Tessera service shares.

Each submodule has one job: ``settings`` (typed configuration), ``logging`` (JSON lines),
``errors`` (domain exceptions mapped to gRPC codes), ``artifacts`` (object store), ``events``
(CloudEvents over Kafka), ``inference`` (Triton / onnxruntime), ``jobs`` (restart-safe job
records) and ``server`` (the gRPC bootstrap).
"""

__version__ = "0.1.0"
