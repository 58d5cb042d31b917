import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BackendStatus(_message.Message):
    __slots__ = ("operational", "status_msg", "pending_jobs")
    OPERATIONAL_FIELD_NUMBER: _ClassVar[int]
    STATUS_MSG_FIELD_NUMBER: _ClassVar[int]
    PENDING_JOBS_FIELD_NUMBER: _ClassVar[int]
    operational: bool
    status_msg: str
    pending_jobs: int
    def __init__(self, operational: _Optional[bool] = ..., status_msg: _Optional[str] = ..., pending_jobs: _Optional[int] = ...) -> None: ...

class InstructionProperties(_message.Message):
    __slots__ = ("qubits", "duration", "error")
    QUBITS_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    qubits: _containers.RepeatedScalarFieldContainer[int]
    duration: float
    error: float
    def __init__(self, qubits: _Optional[_Iterable[int]] = ..., duration: _Optional[float] = ..., error: _Optional[float] = ...) -> None: ...

class TargetInstruction(_message.Message):
    __slots__ = ("name", "properties")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    properties: _containers.RepeatedCompositeFieldContainer[InstructionProperties]
    def __init__(self, name: _Optional[str] = ..., properties: _Optional[_Iterable[_Union[InstructionProperties, _Mapping]]] = ...) -> None: ...

class Target(_message.Message):
    __slots__ = ("num_qubits", "dt", "instructions")
    NUM_QUBITS_FIELD_NUMBER: _ClassVar[int]
    DT_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    num_qubits: int
    dt: float
    instructions: _containers.RepeatedCompositeFieldContainer[TargetInstruction]
    def __init__(self, num_qubits: _Optional[int] = ..., dt: _Optional[float] = ..., instructions: _Optional[_Iterable[_Union[TargetInstruction, _Mapping]]] = ...) -> None: ...

class Backend(_message.Message):
    __slots__ = ("name", "description", "backend_version", "simulator", "local", "num_qubits", "target", "status", "max_shots", "max_circuits", "concurrency", "estimated_wait", "average_run_time", "has_properties")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    BACKEND_VERSION_FIELD_NUMBER: _ClassVar[int]
    SIMULATOR_FIELD_NUMBER: _ClassVar[int]
    LOCAL_FIELD_NUMBER: _ClassVar[int]
    NUM_QUBITS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MAX_SHOTS_FIELD_NUMBER: _ClassVar[int]
    MAX_CIRCUITS_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_WAIT_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_RUN_TIME_FIELD_NUMBER: _ClassVar[int]
    HAS_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    backend_version: str
    simulator: bool
    local: bool
    num_qubits: int
    target: Target
    status: BackendStatus
    max_shots: int
    max_circuits: int
    concurrency: int
    estimated_wait: _duration_pb2.Duration
    average_run_time: _duration_pb2.Duration
    has_properties: bool
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., backend_version: _Optional[str] = ..., simulator: _Optional[bool] = ..., local: _Optional[bool] = ..., num_qubits: _Optional[int] = ..., target: _Optional[_Union[Target, _Mapping]] = ..., status: _Optional[_Union[BackendStatus, _Mapping]] = ..., max_shots: _Optional[int] = ..., max_circuits: _Optional[int] = ..., concurrency: _Optional[int] = ..., estimated_wait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., average_run_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., has_properties: _Optional[bool] = ...) -> None: ...
