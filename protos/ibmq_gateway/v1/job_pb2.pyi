import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_CREATING: _ClassVar[JobState]
    JOB_STATE_VALIDATING: _ClassVar[JobState]
    JOB_STATE_VALIDATED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_COMPLETED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
    JOB_STATE_ERROR_CREATING_JOB: _ClassVar[JobState]
    JOB_STATE_ERROR_VALIDATING_JOB: _ClassVar[JobState]
    JOB_STATE_ERROR_RUNNING_JOB: _ClassVar[JobState]

class ShareLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHARE_LEVEL_UNSPECIFIED: _ClassVar[ShareLevel]
    SHARE_LEVEL_NONE: _ClassVar[ShareLevel]
    SHARE_LEVEL_PROJECT: _ClassVar[ShareLevel]
    SHARE_LEVEL_GROUP: _ClassVar[ShareLevel]
    SHARE_LEVEL_HUB: _ClassVar[ShareLevel]
    SHARE_LEVEL_GLOBAL: _ClassVar[ShareLevel]

class SchedulingMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCHEDULING_MODE_UNSPECIFIED: _ClassVar[SchedulingMode]
    SCHEDULING_MODE_FAIRSHARE: _ClassVar[SchedulingMode]
    SCHEDULING_MODE_DEDICATED: _ClassVar[SchedulingMode]

class QueueScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUEUE_SCOPE_UNSPECIFIED: _ClassVar[QueueScope]
    QUEUE_SCOPE_GATEWAY: _ClassVar[QueueScope]
    QUEUE_SCOPE_PROVIDER: _ClassVar[QueueScope]

class JobEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_EVENT_TYPE_UNSPECIFIED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_CREATED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_STATE_CHANGED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_QUEUE_INFO_CHANGED: _ClassVar[JobEventType]
    JOB_EVENT_TYPE_METADATA_CHANGED: _ClassVar[JobEventType]

class TagMatch(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TAG_MATCH_UNSPECIFIED: _ClassVar[TagMatch]
    TAG_MATCH_ANY: _ClassVar[TagMatch]
    TAG_MATCH_ALL: _ClassVar[TagMatch]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_CREATING: JobState
JOB_STATE_VALIDATING: JobState
JOB_STATE_VALIDATED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_COMPLETED: JobState
JOB_STATE_CANCELLED: JobState
JOB_STATE_ERROR_CREATING_JOB: JobState
JOB_STATE_ERROR_VALIDATING_JOB: JobState
JOB_STATE_ERROR_RUNNING_JOB: JobState
SHARE_LEVEL_UNSPECIFIED: ShareLevel
SHARE_LEVEL_NONE: ShareLevel
SHARE_LEVEL_PROJECT: ShareLevel
SHARE_LEVEL_GROUP: ShareLevel
SHARE_LEVEL_HUB: ShareLevel
SHARE_LEVEL_GLOBAL: ShareLevel
SCHEDULING_MODE_UNSPECIFIED: SchedulingMode
SCHEDULING_MODE_FAIRSHARE: SchedulingMode
SCHEDULING_MODE_DEDICATED: SchedulingMode
QUEUE_SCOPE_UNSPECIFIED: QueueScope
QUEUE_SCOPE_GATEWAY: QueueScope
QUEUE_SCOPE_PROVIDER: QueueScope
JOB_EVENT_TYPE_UNSPECIFIED: JobEventType
JOB_EVENT_TYPE_CREATED: JobEventType
JOB_EVENT_TYPE_STATE_CHANGED: JobEventType
JOB_EVENT_TYPE_QUEUE_INFO_CHANGED: JobEventType
JOB_EVENT_TYPE_METADATA_CHANGED: JobEventType
TAG_MATCH_UNSPECIFIED: TagMatch
TAG_MATCH_ANY: TagMatch
TAG_MATCH_ALL: TagMatch

class Circuit(_message.Message):
    __slots__ = ("qasm3", "qasm2", "qpy")
    QASM3_FIELD_NUMBER: _ClassVar[int]
    QASM2_FIELD_NUMBER: _ClassVar[int]
    QPY_FIELD_NUMBER: _ClassVar[int]
    qasm3: str
    qasm2: str
    qpy: bytes
    def __init__(self, qasm3: _Optional[str] = ..., qasm2: _Optional[str] = ..., qpy: _Optional[bytes] = ...) -> None: ...

class RunOptions(_message.Message):
    __slots__ = ("shots", "memory", "seed_simulator", "extra")
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    SEED_SIMULATOR_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    shots: int
    memory: bool
    seed_simulator: int
    extra: _struct_pb2.Struct
    def __init__(self, shots: _Optional[int] = ..., memory: _Optional[bool] = ..., seed_simulator: _Optional[int] = ..., extra: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class QueueInfo(_message.Message):
    __slots__ = ("position", "estimated_start_time", "estimated_complete_time", "scope")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_START_TIME_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    position: int
    estimated_start_time: _timestamp_pb2.Timestamp
    estimated_complete_time: _timestamp_pb2.Timestamp
    scope: QueueScope
    def __init__(self, position: _Optional[int] = ..., estimated_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., estimated_complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., scope: _Optional[_Union[QueueScope, str]] = ...) -> None: ...

class JobError(_message.Message):
    __slots__ = ("code", "reason", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    reason: str
    message: str
    def __init__(self, code: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "backend", "state", "final", "name", "tags", "share_level", "scheduling_mode", "experiment_id", "create_time", "time_per_step", "queue_info", "error", "client_info", "owner", "header", "run_options", "circuit_count", "circuits", "sequence", "revision", "provider_job_id")
    class TimePerStepEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _timestamp_pb2.Timestamp
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
    class ClientInfoEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    SHARE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    SCHEDULING_MODE_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    TIME_PER_STEP_FIELD_NUMBER: _ClassVar[int]
    QUEUE_INFO_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CLIENT_INFO_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    RUN_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CIRCUITS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    backend: str
    state: JobState
    final: bool
    name: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    share_level: ShareLevel
    scheduling_mode: SchedulingMode
    experiment_id: str
    create_time: _timestamp_pb2.Timestamp
    time_per_step: _containers.MessageMap[str, _timestamp_pb2.Timestamp]
    queue_info: QueueInfo
    error: JobError
    client_info: _containers.ScalarMap[str, str]
    owner: str
    header: _struct_pb2.Struct
    run_options: RunOptions
    circuit_count: int
    circuits: _containers.RepeatedCompositeFieldContainer[Circuit]
    sequence: int
    revision: int
    provider_job_id: str
    def __init__(self, id: _Optional[str] = ..., backend: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., final: _Optional[bool] = ..., name: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., share_level: _Optional[_Union[ShareLevel, str]] = ..., scheduling_mode: _Optional[_Union[SchedulingMode, str]] = ..., experiment_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., time_per_step: _Optional[_Mapping[str, _timestamp_pb2.Timestamp]] = ..., queue_info: _Optional[_Union[QueueInfo, _Mapping]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., client_info: _Optional[_Mapping[str, str]] = ..., owner: _Optional[str] = ..., header: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., run_options: _Optional[_Union[RunOptions, _Mapping]] = ..., circuit_count: _Optional[int] = ..., circuits: _Optional[_Iterable[_Union[Circuit, _Mapping]]] = ..., sequence: _Optional[int] = ..., revision: _Optional[int] = ..., provider_job_id: _Optional[str] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job_id", "sequence", "revision", "event_time", "type", "job")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    sequence: int
    revision: int
    event_time: _timestamp_pb2.Timestamp
    type: JobEventType
    job: Job
    def __init__(self, job_id: _Optional[str] = ..., sequence: _Optional[int] = ..., revision: _Optional[int] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., type: _Optional[_Union[JobEventType, str]] = ..., job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("server_time",)
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    server_time: _timestamp_pb2.Timestamp
    def __init__(self, server_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class JobFilter(_message.Message):
    __slots__ = ("backend", "states", "name_pattern", "tags", "tag_match", "created_after", "created_before", "experiment_id", "owner")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    NAME_PATTERN_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    TAG_MATCH_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    backend: str
    states: _containers.RepeatedScalarFieldContainer[JobState]
    name_pattern: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    tag_match: TagMatch
    created_after: _timestamp_pb2.Timestamp
    created_before: _timestamp_pb2.Timestamp
    experiment_id: str
    owner: str
    def __init__(self, backend: _Optional[str] = ..., states: _Optional[_Iterable[_Union[JobState, str]]] = ..., name_pattern: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., tag_match: _Optional[_Union[TagMatch, str]] = ..., created_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., experiment_id: _Optional[str] = ..., owner: _Optional[str] = ...) -> None: ...
