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


def _message(**changes):
    envelope = Envelope(
        id="e-2",
        source="/registry",
        type="cn.gov.jl.assistance.registry.household.income_corrected.v1",
        subject="hh-2",
        time=datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
        topic="registry.households",
        data={"version": 3, "facts": {"members": [{"member_id": "m-1"}]}, "note": "月度比对"},
        traceparent=f"00-{'c' * 32}-{'d' * 16}-01",
        correlation_id="corr-2",
        causation_id="cause-2",
        extra={"tenant": "jl"},
    )
    message = envelope.to_kafka()
    headers = dict(message.headers)
    value = changes.pop("value", message.value)
    for name, header in changes.items():
        if header is None:
            headers.pop(name, None)
        else:
            headers[name] = header
    return message.key, value, headers


@pytest.mark.parametrize(
    "changes",
    [
        {},  # what our producers write
        {"ce_time": None},  # the SDK fills in the time
        {"ce_id": None},  # the SDK makes up an id
        {"ce_specversion": None},  # the SDK assumes 1.0
        {"ce_specversion": b"0.3"},
        {"value": b'{"amount": NaN, "big": 123456789012345678901234567890}'},  # stdlib JSON only
        {"ce_datacontenttype": b"application/json", "content-type": b"application/cloudevents+json"},
    ],
)
def test_direct_decoding_equals_the_sdk_decoding(changes):
    key, value, headers = _message(**changes)
    for shape in (headers, list(headers.items()), [(name.upper(), raw) for name, raw in headers.items()]):
        direct = Envelope.from_kafka("registry.households", key, value, shape)
        reference = Envelope.from_kafka_via_sdk("registry.households", key, value, shape)
        if "ce_id" in changes or "ce_time" in changes:  # made up by the SDK on each call
            direct, reference = (
                Envelope(**{**vars(e), "id": "x", "correlation_id": "x", "time": reference.time})
                for e in (direct, reference)
            )
        assert direct == reference


@pytest.mark.parametrize("value", [b"", b"{not json", None])
def test_what_the_sdk_refuses_is_refused_the_same_way(value):
    key, _, headers = _message()
    with pytest.raises(Exception) as direct:
        Envelope.from_kafka("t", key, value, headers)
    with pytest.raises(Exception) as reference:
        Envelope.from_kafka_via_sdk("t", key, value, headers)
    assert type(direct.value) is type(reference.value)
