"""Targets and backends as messages, from real targets (fake_manila and Aer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ibmq_gateway.server.api.backend_messages import backend_to_proto, target_to_proto

if TYPE_CHECKING:
    from ibmq_gateway.server.executors.base import BackendInfo


def test_a_device_target_keeps_every_instruction_and_qubit_tuple(
    backends: dict[str, BackendInfo],
) -> None:
    target = backends["fake_manila"].target

    message = target_to_proto(target)

    assert message.num_qubits == 5
    assert message.dt == target.dt
    assert [item.name for item in message.instructions] == list(target.operation_names)
    for item in message.instructions:
        expected = target[item.name]
        if None in expected:
            assert len(item.properties) == 0
            continue
        assert [tuple(props.qubits) for props in item.properties] == list(expected)
        for props in item.properties:
            known = expected[tuple(props.qubits)]
            duration = None if known is None else known.duration
            error = None if known is None else known.error
            assert (props.duration if props.HasField("duration") else None) == duration
            assert (props.error if props.HasField("error") else None) == error


def test_device_errors_and_durations_are_carried(backends: dict[str, BackendInfo]) -> None:
    target = backends["fake_manila"].target

    message = target_to_proto(target)

    cx = next(item for item in message.instructions if item.name == "cx")
    first = cx.properties[0]
    expected = target["cx"][tuple(first.qubits)]
    assert (first.error, first.duration) == (expected.error, expected.duration)
    assert first.error > 0


def test_aer_instructions_apply_anywhere(backends: dict[str, BackendInfo]) -> None:
    aer = backends["aer_simulator"]

    message = target_to_proto(aer.target)
    by_name = {item.name: item for item in message.instructions}

    assert message.num_qubits == aer.num_qubits
    assert not message.HasField("dt")
    assert {"h", "cx", "ccx", "unitary", "if_else"} <= set(by_name)
    assert len(by_name["cx"].properties) == 0
    measure = by_name["measure"].properties
    assert len(measure) == aer.num_qubits
    assert not measure[0].HasField("error")
    assert not measure[0].HasField("duration")


def test_backend_message_carries_status_and_estimates(backends: dict[str, BackendInfo]) -> None:
    manila = backends["fake_manila"]

    message = backend_to_proto(
        manila,
        pending_jobs=3,
        operational=True,
        status_msg="active",
        concurrency=2,
        estimated_wait_s=1.5,
        average_run_s=0.25,
    )

    assert (message.name, message.num_qubits, message.local) == ("fake_manila", 5, True)
    assert (message.max_shots, message.max_circuits) == (manila.max_shots, manila.max_circuits)
    assert message.has_properties
    assert (message.status.pending_jobs, message.status.status_msg) == (3, "active")
    assert message.estimated_wait.ToTimedelta().total_seconds() == 1.5
    assert message.average_run_time.ToTimedelta().total_seconds() == 0.25
    assert message.target.num_qubits == 5


def test_a_listing_can_leave_the_target_out(backends: dict[str, BackendInfo]) -> None:
    message = backend_to_proto(
        backends["aer_simulator"],
        pending_jobs=0,
        operational=True,
        status_msg="active",
        concurrency=2,
        estimated_wait_s=0.0,
        average_run_s=0.0,
        include_target=False,
    )

    assert not message.HasField("target")
    assert message.num_qubits == backends["aer_simulator"].num_qubits
