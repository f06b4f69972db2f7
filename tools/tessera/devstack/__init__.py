"""The local dev stack: Tansu (Kafka protocol), moto (S3) and Triton, started as child processes."""

from tessera.devstack.stack import DevStack, StackConfig

__all__ = ["DevStack", "StackConfig"]
