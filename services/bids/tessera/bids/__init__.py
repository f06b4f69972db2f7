"""tessera.bids: DICOM + task logs -> a validated BIDS dataset through an inferred, editable plan.

The inference rules are usable without a server: ``infer_series(sidecar_dict) -> SeriesPlan``.
"""

from tessera.bids.infer import infer_series
from tessera.bids.model import Plan, SeriesEntry, SeriesPlan

__all__ = ["Plan", "SeriesEntry", "SeriesPlan", "infer_series"]
