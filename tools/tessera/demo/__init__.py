"""The reference pipeline: a minimal service that exercises every part of tessera.core end to end.

``python -m tessera.demo`` (``make demo``) starts the stack, publishes the reference CNN to the
model repository, runs the reference service, pushes requests through Kafka and prints a summary.
Later services follow the same shape: events in, a job per event, artifacts and events out.
"""
