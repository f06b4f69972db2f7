"""Probabilistic weight fixing (PWF): Bayesian weight-sharing quantisation of any Conv/Linear model.

``probabilistic_weight_fixing(model, PWFConfig(), TrainData(loader), evaluate, progress)`` returns a
:class:`WeightSharingResult` whose model holds a few hundred distinct values (sums of powers of two).
"""

from tessera.compression.pwf.bayes import BayesianTensor, GaussianWeight, unwrap_model, wrap_model
from tessera.compression.pwf.centres import candidate_centres
from tessera.compression.pwf.clustering import FixingState, fix_round
from tessera.compression.pwf.config import FEW_VALUES_SCHEDULE, PAPER_SCHEDULE, PWFConfig
from tessera.compression.pwf.layers import check_supported, layer_unique_values, unique_values, unsupported_layers
from tessera.compression.pwf.procedure import probabilistic_weight_fixing
from tessera.compression.pwf.results import RoundInfo, WeightSharingResult
from tessera.compression.pwf.sigma import initial_sigma

__all__ = [
    "FEW_VALUES_SCHEDULE",
    "PAPER_SCHEDULE",
    "BayesianTensor",
    "FixingState",
    "GaussianWeight",
    "PWFConfig",
    "RoundInfo",
    "WeightSharingResult",
    "candidate_centres",
    "check_supported",
    "fix_round",
    "initial_sigma",
    "layer_unique_values",
    "probabilistic_weight_fixing",
    "unique_values",
    "unsupported_layers",
    "unwrap_model",
    "wrap_model",
]
