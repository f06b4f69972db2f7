"""Plan <-> ``tessera.v1.BidsPlan``: the proto mirrors the pydantic model field for field."""

from __future__ import annotations

from google.protobuf import json_format

from tessera.bids.model import Plan
from tessera.v1 import bids_pb2


def plan_to_proto(plan: Plan) -> bids_pb2.BidsPlan:
    data = plan.model_dump(mode="json", exclude_none=True)
    return json_format.ParseDict(data, bids_pb2.BidsPlan(), ignore_unknown_fields=False)


def plan_from_proto(message: bids_pb2.BidsPlan) -> Plan:
    data = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return Plan.model_validate(data)
