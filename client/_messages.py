"""Proto ⇄ qiskit: job states, jobs, targets, results, circuits, run options and times.

Everything that knows the shape of a generated message on the client side is here; the
rest of the client works with qiskit objects and plain Python values.

Size: the design keeps the client's proto ⇄ qiskit conversion in one module, so that one
file answers "how does a message become a qiskit object"; each function is short.
"""

from __future__ import annotations

import functools
import io
import json
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from qiskit import qpy
from qiskit.circuit import Barrier, ForLoopOp, IfElseOp, SwitchCaseOp, WhileLoopOp
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.providers import JobStatus
from qiskit.result import Result
from qiskit.transpiler import InstructionProperties, Target

from ibmq_gateway.client.exceptions import IBMQJobApiError
from ibmq_gateway.v1 import job_pb2

if TYPE_CHECKING:
    from collections.abc import Mapping

    from qiskit import QuantumCircuit

    from ibmq_gateway.v1 import backend_pb2, result_pb2

# The one table from gateway states (``JobState`` names without their prefix, which are
# also the step names of ``time_per_step``) to qiskit's statuses.
STATE_TO_STATUS: dict[str, JobStatus] = {
    "CREATING": JobStatus.INITIALIZING,
    "VALIDATING": JobStatus.VALIDATING,
    "VALIDATED": JobStatus.VALIDATING,
    "QUEUED": JobStatus.QUEUED,
    "RUNNING": JobStatus.RUNNING,
    "COMPLETED": JobStatus.DONE,
    "CANCELLED": JobStatus.CANCELLED,
    "ERROR_CREATING_JOB": JobStatus.ERROR,
    "ERROR_VALIDATING_JOB": JobStatus.ERROR,
    "ERROR_RUNNING_JOB": JobStatus.ERROR,
}
# States that never ran the circuits, so they have no result to fetch.
NEVER_RAN = frozenset({"ERROR_CREATING_JOB", "ERROR_VALIDATING_JOB"})
_STATE_PREFIX = "JOB_STATE_"

SHARE_LEVELS: dict[str, job_pb2.ShareLevel] = {
    "none": job_pb2.SHARE_LEVEL_NONE,
    "project": job_pb2.SHARE_LEVEL_PROJECT,
    "group": job_pb2.SHARE_LEVEL_GROUP,
    "hub": job_pb2.SHARE_LEVEL_HUB,
    "global": job_pb2.SHARE_LEVEL_GLOBAL,
}
_SCHEDULING_MODES = {
    job_pb2.SCHEDULING_MODE_FAIRSHARE: "fairshare",
    job_pb2.SCHEDULING_MODE_DEDICATED: "dedicated",
}
_QUEUE_SCOPES = {job_pb2.QUEUE_SCOPE_GATEWAY: "gateway", job_pb2.QUEUE_SCOPE_PROVIDER: "provider"}
_TYPED_OPTIONS = ("shots", "memory", "seed_simulator")
# Instructions a target may name that are classes rather than standard gates.
_VARIADIC = {
    "barrier": Barrier,
    "if_else": IfElseOp,
    "while_loop": WhileLoopOp,
    "for_loop": ForLoopOp,
    "switch_case": SwitchCaseOp,
}


# --- states -------------------------------------------------------------------------------


def state_name(state: int) -> str:
    """The step name of a ``JobState`` value (``"QUEUED"``); the number when it is unknown."""
    try:
        return str(job_pb2.JobState.Name(state)).removeprefix(_STATE_PREFIX)
    except ValueError:
        return str(state)


def job_status(api_status: str) -> JobStatus:
    """Maps a gateway state name to qiskit's ``JobStatus``.

    Raises:
        IBMQJobApiError: the gateway sent a state this client does not know.
    """
    status = STATE_TO_STATUS.get(api_status.upper())
    if status is None and api_status.upper().startswith("ERROR_"):
        status = JobStatus.ERROR
    if status is None:
        raise IBMQJobApiError(f'Unexpected job state "{api_status}" received from the gateway.')
    return status


def states_for(status: JobStatus) -> list[job_pb2.JobState]:
    """The gateway states that map to ``status`` (the reverse of ``STATE_TO_STATUS``)."""
    names = [name for name, mapped in STATE_TO_STATUS.items() if mapped is status]
    return [
        cast("job_pb2.JobState", job_pb2.JobState.Value(_STATE_PREFIX + name)) for name in names
    ]


# --- times and structs --------------------------------------------------------------------


def to_datetime(timestamp: timestamp_pb2.Timestamp) -> datetime:
    """A protobuf timestamp as an aware UTC datetime."""
    return timestamp.ToDatetime(tzinfo=UTC)


def to_timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    """An aware datetime (or a naive one in local time) as a protobuf timestamp."""
    timestamp = timestamp_pb2.Timestamp()
    timestamp.FromDatetime(moment.astimezone(UTC))
    return timestamp


def parse_utc(value: datetime | str) -> datetime:
    """An aware UTC datetime from a datetime or an ISO-8601 string; naive means UTC."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as a dict; numbers come back as floats."""
    value: dict[str, Any] = json_format.MessageToDict(struct)
    return value


def dict_to_struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    """A JSON-like mapping as a Struct.

    Raises:
        TypeError: a value has no JSON form.
    """
    struct = struct_pb2.Struct()
    struct.update(json.loads(json.dumps(value, default=_json_default)))
    return struct


def _json_default(value: Any) -> Any:
    if hasattr(value, "to_dict"):  # e.g. an Aer NoiseModel
        return value.to_dict()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} has no JSON form")


# --- jobs ---------------------------------------------------------------------------------


def job_fields(job: job_pb2.Job) -> dict[str, Any]:
    """A job message as the keyword arguments of ``IBMQJob``'s constructor."""
    return {
        "job_id": job.id,
        "backend_name": job.backend,
        "creation_date": to_datetime(job.create_time),
        "status": state_name(job.state),
        "name": job.name or None,
        "tags": list(job.tags),
        "time_per_step": {step: to_datetime(at) for step, at in job.time_per_step.items()},
        "error": _error(job) if job.HasField("error") else None,
        "run_mode": _SCHEDULING_MODES.get(job.scheduling_mode),
        "share_level": share_level_name(job.share_level),
        "client_info": dict(job.client_info),
        "experiment_id": job.experiment_id or None,
        "info_queue": queue_fields(job),
        "final": job.final,
        "header": struct_to_dict(job.header),
        "run_options": run_options_to_dict(job.run_options),
        "owner": job.owner,
        "circuit_count": job.circuit_count,
        "sequence": job.sequence,
    }


def _error(job: job_pb2.Job) -> dict[str, Any]:
    return {"code": job.error.code, "reason": job.error.reason, "message": job.error.message}


def share_level_name(level: job_pb2.ShareLevel) -> str:
    """The name of a ``ShareLevel`` value; unspecified counts as ``"none"``."""
    names = {value: name for name, value in SHARE_LEVELS.items()}
    return names.get(level, "none")


def queue_fields(job: job_pb2.Job) -> dict[str, Any] | None:
    """A job's queue information as ``QueueInfo`` keyword arguments, or None."""
    if not job.HasField("queue_info"):
        return None
    info = job.queue_info
    return {
        "job_id": job.id,
        "status": state_name(job.state),
        "position": info.position if info.HasField("position") else None,
        "estimated_start_time": _optional_time(info, "estimated_start_time"),
        "estimated_complete_time": _optional_time(info, "estimated_complete_time"),
        "scope": _QUEUE_SCOPES.get(info.scope),
    }


def _optional_time(message: Any, field: str) -> datetime | None:
    return to_datetime(getattr(message, field)) if message.HasField(field) else None


# --- run options and circuits -------------------------------------------------------------


def run_options_to_proto(options: Mapping[str, Any]) -> job_pb2.RunOptions:
    """Run options (None values left out) as a message; unknown keys go to ``extra``.

    Raises:
        TypeError: an option's value has no JSON form.
    """
    given = {key: value for key, value in options.items() if value is not None}
    message = job_pb2.RunOptions()
    if "shots" in given:
        message.shots = int(given["shots"])
    if "memory" in given:
        message.memory = bool(given["memory"])
    if "seed_simulator" in given:
        message.seed_simulator = int(given["seed_simulator"])
    extra = {key: value for key, value in given.items() if key not in _TYPED_OPTIONS}
    if extra:
        message.extra.CopyFrom(dict_to_struct(extra))
    return message


def run_options_to_dict(options: job_pb2.RunOptions) -> dict[str, Any]:
    """The options a job was submitted with, as one flat dict."""
    values: dict[str, Any] = {
        key: getattr(options, key) for key in _TYPED_OPTIONS if options.HasField(key)
    }
    return values | struct_to_dict(options.extra)


def circuit_to_proto(circuit: QuantumCircuit) -> job_pb2.Circuit:
    """A circuit as one QPY blob (an exact round trip)."""
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return job_pb2.Circuit(qpy=buffer.getvalue())


def circuit_from_proto(circuit: job_pb2.Circuit) -> QuantumCircuit:
    """A submitted circuit, whichever format it was sent in.

    Raises:
        IBMQJobApiError: the message holds no program.
    """
    kind = circuit.WhichOneof("program")
    if kind == "qpy":
        loaded: QuantumCircuit = qpy.load(io.BytesIO(circuit.qpy))[0]
        return loaded
    if kind == "qasm3":
        from qiskit import qasm3  # needs the optional qiskit-qasm3-import

        parsed: QuantumCircuit = qasm3.loads(circuit.qasm3)
        return parsed
    if kind == "qasm2":
        from qiskit import qasm2

        return qasm2.loads(circuit.qasm2, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    raise IBMQJobApiError("The gateway returned a circuit without a program.")


# --- targets ------------------------------------------------------------------------------


def target_from_proto(message: backend_pb2.Target) -> Target:
    """Rebuilds a qiskit ``Target``; instructions this qiskit cannot name are left out."""
    dt = message.dt if message.HasField("dt") else None
    target = Target(num_qubits=message.num_qubits, dt=dt)
    for instruction in message.instructions:
        operation = _operation(instruction.name)
        if operation is not None:
            properties = _instruction_properties(instruction)
            target.add_instruction(operation, properties, name=instruction.name)
    return target


def _operation(name: str) -> Any:
    return _standard_operations().get(name) or _VARIADIC.get(name)


@functools.cache
def _standard_operations() -> dict[str, Any]:
    return dict(get_standard_gate_name_mapping())


def _instruction_properties(
    instruction: backend_pb2.TargetInstruction,
) -> dict[tuple[int, ...] | None, InstructionProperties | None] | None:
    """Properties by qubit tuple; None (no entries) makes the instruction global."""
    if not instruction.properties:
        return None
    by_qargs: dict[tuple[int, ...] | None, InstructionProperties | None] = {}
    for entry in instruction.properties:
        duration = entry.duration if entry.HasField("duration") else None
        error = entry.error if entry.HasField("error") else None
        known = duration is not None or error is not None
        props = InstructionProperties(duration=duration, error=error) if known else None
        by_qargs[tuple(entry.qubits) or None] = props
    return by_qargs


# --- results ------------------------------------------------------------------------------

# Header fields that qiskit reads as integers; a Struct delivers every number as a float.
_INT_FIELDS = ("memory_slots", "n_qubits")
_SIZE_FIELDS = ("creg_sizes", "qreg_sizes", "clbit_labels", "qubit_labels")


def result_from_proto(message: result_pb2.JobResult, client_version: dict[str, str]) -> Result:
    """A qiskit ``Result`` from the gateway's; counts get the keys qiskit itself stores."""
    status = "COMPLETED" if message.success else "ERROR"
    data = {
        "backend_name": message.backend_name,
        "backend_version": message.backend_version,
        "job_id": message.job_id,
        "success": message.success,
        "status": "PARTIAL COMPLETED" if message.partial else status,
        "date": to_datetime(message.date).isoformat() if message.HasField("date") else None,
        "header": struct_to_dict(message.header),
        "time_taken": message.time_taken,
        "results": [_experiment(experiment) for experiment in message.results],
        "client_version": dict(client_version),
    }
    return Result.from_dict(data)


def _experiment(message: result_pb2.ExperimentResult) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if message.counts:
        data["counts"] = {_hex(bits): int(count) for bits, count in message.counts.items()}
    if message.memory:
        data["memory"] = [_hex(bits) for bits in message.memory]
    experiment = {
        "shots": message.shots,
        "success": message.success,
        "status": message.status,
        "data": data,
        "header": _header(struct_to_dict(message.header)),
        "metadata": struct_to_dict(message.metadata),
        "time_taken": message.time_taken,
    }
    if message.HasField("seed_simulator"):
        experiment["seed_simulator"] = message.seed_simulator
    return experiment


def _hex(bits: str) -> str:
    """``"1 01"`` (registers separated by spaces, as printed) -> ``"0x5"``."""
    if bits.startswith("0x"):
        return bits
    digits = bits.replace(" ", "")
    return hex(int(digits, 2)) if digits else "0x0"


def _header(header: dict[str, Any]) -> dict[str, Any]:
    for key in _INT_FIELDS:
        if isinstance(header.get(key), float):
            header[key] = int(header[key])
    for key in _SIZE_FIELDS:
        if isinstance(header.get(key), list):
            header[key] = [_int_pair(pair) for pair in header[key]]
    return header


def _int_pair(pair: Any) -> Any:
    if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], float):
        return [pair[0], int(pair[1])]
    return pair


# --- calibration --------------------------------------------------------------------------


def properties_from_proto(struct: struct_pb2.Struct) -> Any:
    """A ``qiskit_ibm_runtime.models.BackendProperties`` from the gateway's calibration data.

    Raises:
        ImportError: qiskit-ibm-runtime is not installed.
    """
    # Imported here: qiskit-ibm-runtime is heavy and only this call needs it.
    from qiskit_ibm_runtime.models import BackendProperties

    data = struct_to_dict(struct)
    for gate in data.get("gates", []):
        gate["qubits"] = [int(qubit) for qubit in gate.get("qubits", [])]
    return BackendProperties.from_dict(data)
