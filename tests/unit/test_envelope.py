"""The envelope's Kafka encoding is the CloudEvents Kafka binding (binary mode), as the SDK writes it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.events import Envelope
from shared.ids import new_record_id


@pytest.mark.parametrize("causation_id, extra", [(None, {}), ("cause-1", {"tenant": "jl"})])
def test_direct_encoding_equals_the_sdk_encoding_and_decodes_back(causation_id, extra):
    envelope = Envelope(
        id="e-1",
        source="/eligibility",
        type="cn.gov.jl.assistance.x.v1",
        subject="hh-1",
        time=datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
        topic="t",
        data={"amount_fen": 12_345, "note": "差额救助", "nested": {"a": [1, None]}},
        traceparent=f"00-{'a' * 32}-{'b' * 16}-01",
        correlation_id="corr-1",
        causation_id=causation_id,
        extra=extra,
    )
    direct, reference = envelope.to_kafka(), envelope.to_kafka_via_sdk()
    assert direct.headers == reference.headers
    assert direct.key == reference.key == b"hh-1"
    assert json.loads(direct.value) == json.loads(reference.value) == envelope.data
    decoded = Envelope.from_kafka("t", direct.key, direct.value, list(direct.headers.items()))
    assert decoded == envelope


def test_record_ids_are_time_ordered_uuid7():
    ids = [new_record_id() for _ in range(1000)]
    assert {uuid.UUID(i).version for i in ids} == {7}
    assert ids == sorted(ids) and len(set(ids)) == 1000  # each new key lands at the right edge of its index
