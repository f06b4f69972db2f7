"""Tessera clustering service: SCADDA spatio-temporal clustering that scales.

``scadda(coords, series, ScaddaParams(...))`` is the method (labels -1 = noise); ``clustering``
is a drop-in for the reference package's function (labels 0 = noise).
"""

from .compat import clustering
from .params import ScaddaParams
from .scadda import ScaddaResult, scadda

__all__ = ["ScaddaParams", "ScaddaResult", "clustering", "scadda"]
