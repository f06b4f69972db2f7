"""Tessera compression service: probabilistic weight fixing, pruning, quantisation, and a
training-accuracy estimate for capacity planning (:func:`estimate_training_accuracy`)."""

from tessera.compression.estimation import estimate_training_accuracy

__all__ = ["estimate_training_accuracy"]
