import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExperimentResult(_message.Message):
    __slots__ = ("success", "shots", "status", "counts", "memory", "header", "metadata", "time_taken", "seed_simulator")
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TIME_TAKEN_FIELD_NUMBER: _ClassVar[int]
    SEED_SIMULATOR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    shots: int
    status: str
    counts: _containers.ScalarMap[str, int]
    memory: _containers.RepeatedScalarFieldContainer[str]
    header: _struct_pb2.Struct
    metadata: _struct_pb2.Struct
    time_taken: float
    seed_simulator: int
    def __init__(self, success: _Optional[bool] = ..., shots: _Optional[int] = ..., status: _Optional[str] = ..., counts: _Optional[_Mapping[str, int]] = ..., memory: _Optional[_Iterable[str]] = ..., header: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., time_taken: _Optional[float] = ..., seed_simulator: _Optional[int] = ...) -> None: ...

class JobResult(_message.Message):
    __slots__ = ("job_id", "backend_name", "backend_version", "success", "partial", "results", "date", "header", "time_taken")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_NAME_FIELD_NUMBER: _ClassVar[int]
    BACKEND_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    TIME_TAKEN_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    backend_name: str
    backend_version: str
    success: bool
    partial: bool
    results: _containers.RepeatedCompositeFieldContainer[ExperimentResult]
    date: _timestamp_pb2.Timestamp
    header: _struct_pb2.Struct
    time_taken: float
    def __init__(self, job_id: _Optional[str] = ..., backend_name: _Optional[str] = ..., backend_version: _Optional[str] = ..., success: _Optional[bool] = ..., partial: _Optional[bool] = ..., results: _Optional[_Iterable[_Union[ExperimentResult, _Mapping]]] = ..., date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., header: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., time_taken: _Optional[float] = ...) -> None: ...
