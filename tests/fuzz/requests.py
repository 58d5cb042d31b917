"""Request messages for every RPC, built from the field strategies and what is ``Known``.

``messages`` has one entry per method of ``methods.METHODS``; ``bodies`` turns a method's
messages into request bytes, often serialized as they are, sometimes mutated (truncated,
bits flipped, unknown fields and wrong wire types appended), sometimes plain noise.
"""

from __future__ import annotations

from typing import Any

from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from hypothesis import strategies as st

from ibmq_gateway.v1 import backend_service_pb2, job_pb2, job_service_pb2
from tests.fuzz import tokens, values
from tests.fuzz.circuits import circuits, qpy_seeds
from tests.fuzz.known import Known
from tests.fuzz.methods import METHODS
from tests.helpers import BELL_QASM3

Strategies = dict[str, st.SearchStrategy[Any]]

# Patterns that do not compile, that compile slowly, or that backtrack on names like ours.
ODD_PATTERNS = ("[", "(", "(?P<x>", "\\", "a{1000000000}", "(a*)*b", "(x+x+)+y", "^seed$", "(?i)S")
_BIG_COUNTS = st.sampled_from([60, 1001])


def _message(kind: type[Any], fields: Strategies) -> st.SearchStrategy[Any]:
    """Messages of ``kind`` whose fields are drawn from ``fields``; a None leaves one unset."""
    return st.fixed_dictionaries(fields).map(
        lambda drawn: kind(**{name: value for name, value in drawn.items() if value is not None})
    )


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _lists(strategy: st.SearchStrategy[Any], max_size: int = 4) -> st.SearchStrategy[list[Any]]:
    """Short lists, and now and then one past a limit (50 tags, 1000 circuits)."""
    return st.one_of(
        st.lists(strategy, max_size=max_size),
        st.tuples(strategy, _BIG_COUNTS).map(lambda pair: [pair[0]] * pair[1]),
    )


def job_filters(known: Known) -> st.SearchStrategy[job_pb2.JobFilter]:
    return _message(
        job_pb2.JobFilter,
        {
            "backend": values.names(*known.backends),
            "states": st.lists(values.enum_value(job_pb2.JobState), max_size=3),
            "name_pattern": st.one_of(st.sampled_from(ODD_PATTERNS), values.text(30)),
            "tags": st.lists(values.names("fuzz", "seed"), max_size=3),
            "tag_match": values.enum_value(job_pb2.TagMatch),
            "created_after": _maybe(values.timestamps()),
            "created_before": _maybe(values.timestamps()),
            "experiment_id": values.text(),
            "owner": values.names("admin", "alice", "bob"),
        },
    )


def _submit(known: Known) -> st.SearchStrategy[Any]:
    bell = st.just(job_pb2.Circuit(qasm3=BELL_QASM3))
    run_options = _message(
        job_pb2.RunOptions,
        {
            "shots": _maybe(values.int32()),
            "memory": _maybe(st.booleans()),
            "seed_simulator": _maybe(values.int64()),
            "extra": _maybe(values.structs()),
        },
    )
    return _message(
        job_service_pb2.SubmitJobRequest,
        {
            "request_id": st.one_of(st.sampled_from(["r1", "r2", "r3"]), values.text()),
            "backend": values.names(*known.backends),
            "circuits": _lists(st.one_of(bell, circuits()), max_size=3),
            "run_options": _maybe(run_options),
            "name": values.text(),
            "tags": _lists(values.text(20)),
            "share_level": values.enum_value(job_pb2.ShareLevel),
            "experiment_id": values.text(),
            "header": _maybe(values.structs()),
            "client_info": st.dictionaries(values.text(20), values.text(20), max_size=3),
        },
    )


def _plausible_submit(known: Known) -> st.SearchStrategy[Any]:
    """Submissions valid but for their circuits: these reach the parsers and the queue."""
    return st.builds(
        lambda backend, circuit, shots: job_service_pb2.SubmitJobRequest(
            backend=backend,
            circuits=[circuit],
            name="fuzz",
            tags=["fuzz"],
            run_options=job_pb2.RunOptions(shots=shots),
        ),
        st.sampled_from(known.backends),
        st.one_of(st.just(job_pb2.Circuit(qasm3=BELL_QASM3)), circuits()),
        st.integers(1, 64),
    )


def _job_requests(known: Known) -> dict[str, st.SearchStrategy[Any]]:
    job_id = values.names(*known.job_ids)
    resume = tokens.resume_tokens(known.epoch, known.resume_tokens)
    return {
        "JobService/SubmitJob": st.one_of(_submit(known), _plausible_submit(known)),
        "JobService/GetJob": _message(
            job_service_pb2.GetJobRequest,
            {"job_id": job_id, "view": values.enum_value(job_service_pb2.JobView)},
        ),
        "JobService/ListJobs": _message(
            job_service_pb2.ListJobsRequest,
            {
                "filter": _maybe(job_filters(known)),
                "page_size": values.int32(),
                "page_token": tokens.page_tokens(known.page_tokens, known.job_ids),
                "ascending": st.booleans(),
                "skip": values.int32(),
            },
        ),
        "JobService/CancelJob": _message(job_service_pb2.CancelJobRequest, {"job_id": job_id}),
        "JobService/UpdateJob": _message(
            job_service_pb2.UpdateJobRequest,
            {
                "job_id": job_id,
                "name": _maybe(values.text()),
                "replace_tags": st.booleans(),
                "tags": _lists(values.text(20)),
            },
        ),
        "JobService/GetJobResult": _message(
            job_service_pb2.GetJobResultRequest, {"job_id": job_id, "allow_partial": st.booleans()}
        ),
        "JobService/WatchJob": _message(
            job_service_pb2.WatchJobRequest,
            {
                "job_id": job_id,
                "resume_token": resume,
                "heartbeat_interval": _maybe(values.durations()),
            },
        ),
        "JobService/WatchJobs": _message(
            job_service_pb2.WatchJobsRequest,
            {
                "filter": _maybe(job_filters(known)),
                "resume_token": resume,
                "heartbeat_interval": _maybe(values.durations()),
            },
        ),
    }


def _backend_requests(known: Known) -> dict[str, st.SearchStrategy[Any]]:
    name = values.names(*known.backends)
    return {
        "BackendService/ListBackends": _message(
            backend_service_pb2.ListBackendsRequest, {"omit_targets": st.booleans()}
        ),
        "BackendService/GetBackend": _message(
            backend_service_pb2.GetBackendRequest, {"name": name}
        ),
        "BackendService/GetBackendProperties": _message(
            backend_service_pb2.GetBackendPropertiesRequest,
            {"name": name, "as_of_time": _maybe(values.timestamps())},
        ),
    }


_SERVICES = ("", "ibmq_gateway.v1.JobService", "ibmq_gateway.v1.BackendService")


def _standard_requests() -> dict[str, st.SearchStrategy[Any]]:
    service = values.names(*_SERVICES)
    symbol = values.names(*_SERVICES, "ibmq_gateway.v1.Job", "grpc.health.v1.Health")
    asks: list[st.SearchStrategy[dict[str, Any]]] = [
        st.builds(dict, list_services=values.text()),
        st.builds(dict, file_by_filename=values.names("ibmq_gateway/v1/job.proto")),
        st.builds(dict, file_containing_symbol=symbol),
        st.builds(dict, all_extension_numbers_of_type=symbol),
        st.builds(
            lambda name, number: {
                "file_containing_extension": reflection_pb2.ExtensionRequest(
                    containing_type=name, extension_number=number
                )
            },
            symbol,
            values.int32(),
        ),
    ]
    reflection = st.tuples(values.text(), st.one_of(asks)).map(
        lambda pair: reflection_pb2.ServerReflectionRequest(host=pair[0], **pair[1])
    )
    return {
        "Health/Check": _message(health_pb2.HealthCheckRequest, {"service": service}),
        "Health/List": st.just(health_pb2.HealthListRequest()),
        "Health/Watch": _message(health_pb2.HealthCheckRequest, {"service": service}),
        "ServerReflection/ServerReflectionInfo": reflection,
    }


def messages(known: Known) -> dict[str, st.SearchStrategy[Any]]:
    """Request messages for each method (by ``Method.name``); every method has an entry."""
    table = {**_job_requests(known), **_backend_requests(known), **_standard_requests()}
    missing = {method.name for method in METHODS} - set(table)
    if missing:
        raise LookupError(f"no request strategy for {sorted(missing)}")
    return table


# -- bytes on the wire ------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    """A protobuf field of any number and wire type (the payload as given, even if wrong)."""
    return _varint((number << 3) | wire_type) + payload


_FIELD_NUMBERS = st.one_of(st.integers(1, 25), st.sampled_from([19_000, 2**29 - 1, 2**29]))
_STRAY_FIELDS = st.builds(
    _field,
    _FIELD_NUMBERS,
    st.integers(0, 7),
    st.one_of(
        st.binary(max_size=12),
        st.integers(0, 2**64 - 1).map(_varint),
        st.sampled_from([_varint(2**31), b"\xff" * 11, _varint(5) + b"ab"]),
    ),
)


def _mutations(body: bytes) -> st.SearchStrategy[bytes]:
    end = len(body) + 1
    return st.one_of(
        st.integers(0, end).map(lambda cut: body[:cut]),
        st.tuples(st.integers(0, end), st.integers(1, 255)).map(
            lambda flip: _flip(body, *flip) if body else bytes([flip[1]])
        ),
        st.lists(_STRAY_FIELDS, min_size=1, max_size=3).map(lambda extra: body + b"".join(extra)),
        st.tuples(st.integers(0, end), st.binary(min_size=1, max_size=16)).map(
            lambda splice: body[: splice[0]] + splice[1] + body[splice[0] :]
        ),
    )


def _flip(body: bytes, position: int, mask: int) -> bytes:
    data = bytearray(body)
    data[position % len(data)] ^= mask
    return bytes(data)


def _deep(number: int, depth: int) -> bytes:
    """Field ``number`` holding itself ``depth`` times: past protobuf's nesting limit."""
    body = b""
    for _ in range(depth):
        body = _field(number, 2, _varint(len(body)) + body)
    return body


_DEEP = st.builds(_deep, st.integers(1, 12), st.sampled_from([101, 2000]))

# Past the fuzzed gateway's 1 MiB request limit (known.FUZZ_SETTINGS).
_OVERSIZED = st.integers(1024 * 1024 + 1, 1024 * 1024 + 64).map(lambda size: b"\x00" * size)
_RANDOM = st.binary(max_size=300)
_NOISE = st.one_of(_RANDOM, _RANDOM, st.sampled_from(qpy_seeds()), _DEEP, _OVERSIZED)


def bodies(message: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, bytes]]:
    """(message or None, request bytes): mostly ``message`` serialized, else mutated or noise."""
    serialized = message.map(lambda drawn: (drawn, drawn.SerializeToString()))

    def mutated(pair: tuple[Any, bytes]) -> st.SearchStrategy[tuple[Any, bytes]]:
        return _mutations(pair[1]).map(lambda body: (pair[0], body))

    noise = _NOISE.map(lambda drawn: (None, drawn))
    # Repeated branches weigh them: the messages as they are reach the deepest code.
    return st.one_of(serialized, serialized, serialized, serialized.flatmap(mutated), noise)
