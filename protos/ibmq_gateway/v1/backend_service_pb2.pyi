import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ibmq_gateway.v1 import backend_pb2 as _backend_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListBackendsRequest(_message.Message):
    __slots__ = ("omit_targets",)
    OMIT_TARGETS_FIELD_NUMBER: _ClassVar[int]
    omit_targets: bool
    def __init__(self, omit_targets: _Optional[bool] = ...) -> None: ...

class ListBackendsResponse(_message.Message):
    __slots__ = ("backends",)
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    backends: _containers.RepeatedCompositeFieldContainer[_backend_pb2.Backend]
    def __init__(self, backends: _Optional[_Iterable[_Union[_backend_pb2.Backend, _Mapping]]] = ...) -> None: ...

class GetBackendRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetBackendResponse(_message.Message):
    __slots__ = ("backend",)
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    backend: _backend_pb2.Backend
    def __init__(self, backend: _Optional[_Union[_backend_pb2.Backend, _Mapping]] = ...) -> None: ...

class GetBackendPropertiesRequest(_message.Message):
    __slots__ = ("name", "as_of_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    as_of_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetBackendPropertiesResponse(_message.Message):
    __slots__ = ("properties",)
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    properties: _struct_pb2.Struct
    def __init__(self, properties: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
