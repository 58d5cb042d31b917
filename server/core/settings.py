"""One frozen settings object, read from flags, then the environment, then a TOML file.

Every setting has an environment variable ``IBMQ_GATEWAY_<NAME>`` (upper case) and a key
``<name>`` in the optional file; flags win over the environment, which wins over the file.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "IBMQ_GATEWAY_"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def default_state_dir() -> Path:
    """Where state lives when nothing says otherwise (XDG state home)."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "ibmq-gateway"


@dataclass(frozen=True)
class Settings:
    """Everything the server reads at start-up."""

    address: str = "127.0.0.1:50051"
    """host:port to listen on (port 0 picks a free one)."""
    state_dir: Path = field(default_factory=default_state_dir)
    """Directory of the SQLite database (and of the first admin's token file)."""
    database: str | None = field(default=None, repr=False)
    """A ``postgresql://`` URL: the database several replicas share (None: SQLite in
    ``state_dir``; so does an empty value). Not in repr: a URL may carry a password."""
    concurrency: int = 1
    """Jobs each backend runs at once; the rest wait in the gateway's queue."""
    backend_concurrency: dict[str, int] = field(default_factory=dict)
    """Per-backend overrides of ``concurrency`` (file only)."""
    workers: int = 2
    """Threads that run simulations."""
    simulator_cluster: str | None = None
    """Address of a dask.distributed scheduler (``tcp://host:8786``) whose workers run the
    local backends' simulations (None or empty: they run in the gateway's own processes)."""
    fake_devices: tuple[str, ...] | None = None
    """IBM fake devices to offer (None: the default list; empty: none)."""
    heartbeat_interval: float = 15.0
    """Seconds of silence on a stream before a heartbeat."""
    max_stream_age: float = 1800.0
    """Seconds after which a stream is closed (OK) for the client to resume."""
    stream_buffer: int = 1000
    """Events a stream may hold for a slow reader before it is cut off."""
    event_retention: float = 7 * 24 * 3600.0
    """Seconds events stay in the log (each job's latest event is always kept)."""
    shutdown_grace: float = 5.0
    """Seconds in-flight RPCs get to finish on shutdown."""
    log_level: str = "INFO"
    """Level of the gateway's own loggers (libraries log at WARNING)."""
    log_format: str = "text"
    """``text`` (a line for people) or ``json`` (one JSON object per line, for collectors)."""
    metrics_port: int | None = None
    """Port of the Prometheus ``/metrics`` endpoint (None: no endpoint; 0: any free port)."""
    metrics_address: str = "127.0.0.1"
    """Interface the metrics endpoint listens on."""
    tls_cert: Path | None = None
    """PEM certificate chain of the gateway's port (None: plaintext); needs ``tls_key``."""
    tls_key: Path | None = None
    """PEM private key (unencrypted) of ``tls_cert``."""
    tls_client_ca: Path | None = None
    """PEM bundle of the CAs whose client certificates are accepted (mutual TLS; None: none
    asked for); needs ``tls_cert``."""
    quota_active_jobs: int = 100
    """Jobs a user (not an admin) may have queued or running at once."""
    quota_circuits_per_job: int = 300
    """Circuits in one job of a user (not an admin)."""
    quota_shots: int = 100_000
    """Shots per circuit of a user (not an admin)."""
    quota_request_bytes: int = 16 * 1024 * 1024
    """Size of one SubmitJob request of a user (not an admin)."""
    max_circuit_qubits: int = 1_000
    """Qubits (and classical bits) a circuit may declare, of anyone; a larger one is refused
    before its parser runs (INVALID_ARGUMENT, INVALID_CIRCUIT)."""
    max_circuit_operations: int = 1_000_000
    """Operations a circuit may hold, of anyone, each loop body counted per iteration."""
    lease_time: float = 15.0
    """Seconds a replica's lease on a run lasts unless renewed (shared stores): a replica
    that dies has its runs taken over by others this long after its last renewal."""
    max_parse_wait: float = 5.0
    """Seconds of OpenQASM parsing (estimated from its size) a submission may have to wait
    behind; past it the submission is refused with RESOURCE_EXHAUSTED, reason PARSER_BUSY,
    and a RetryInfo saying when to send it again. A job alone is always parsed."""
    quota_open_streams: int = 200
    """Streams (WatchJob, WatchJobs) a user (not an admin) may have open at once on one
    replica; past it a new stream is refused with RESOURCE_EXHAUSTED."""
    max_receive_bytes: int | None = None
    """Largest request message the port accepts, of anyone (None: ``quota_request_bytes``);
    grpc refuses a larger one with RESOURCE_EXHAUSTED before any servicer sees it."""
    max_streams_per_connection: int = 1000
    """Calls open at once on one client connection (HTTP/2 streams); a client's further
    calls wait for one to end."""
    max_connection_age: float = 3600.0
    """Seconds after which a client connection is asked to go (GOAWAY, jittered by grpc), so
    that clients spread again over the replicas behind one address."""
    max_connection_age_grace: float = 1860.0
    """Seconds an aged connection's calls still get; longer than ``max_stream_age``, so every
    stream ends by itself (OK, to resume) instead of being cut."""
    keepalive_min_ping_interval: float = 10.0
    """Shortest pause between a client's keepalive pings; a client pinging more often is
    sent GOAWAY ``too_many_pings``, and grpc clients then ping half as often."""
    ibm_token: str | None = field(default=None, repr=False)
    """The team's IBM Quantum API key, from IBMQ_GATEWAY_IBM_TOKEN or the settings file
    only (never a flag, so it never shows on a command line); never logged or stored."""
    ibm_token_file: Path | None = None
    """A file holding the IBM Quantum API key, read once at start."""
    ibm_instance: str | None = None
    """The team's IBM Quantum instance: its CRN (or its name); needed with an API key."""
    ibm_url: str | None = None
    """The Quantum API's base URL, e.g. ``https://quantum.cloud.ibm.com/api/v1``, for private
    endpoints and tests (None: the one IBM's client derives from the instance's region)."""
    ibm_submissions_per_minute: int = 5
    """Jobs the whole team may send to IBM per minute: IBM's limit per API key."""
    ibm_in_flight: int = 20
    """Jobs per IBM device sent and not yet final; the rest wait in the gateway's queue."""
    ibm_call_timeout: float = 60.0
    """Seconds a call to IBM may take before it counts as failed and is retried."""
    ibm_poll_ceiling: float = 30.0
    """The longest pause, in seconds, between two polls of a job waiting in IBM's queue
    (polls start at one second and back off to this)."""
    bootstrap_token: str | None = field(default=None, repr=False)
    """The first admin's token when the gateway starts with no users (else a random one);
    either way it is written to ``admin.token`` in the state directory."""

    def __post_init__(self) -> None:
        _check_tls(self)
        if self.ibm_submissions_per_minute < 1:
            raise ValueError("ibm_submissions_per_minute must be at least 1")
        if self.database and not self.database.startswith(POSTGRES_SCHEMES):
            raise ValueError(
                "database must be a postgresql:// URL (leave it unset for SQLite in the "
                "state directory)"
            )
        if self.lease_time <= 0:
            raise ValueError("lease_time must be a positive number of seconds")
        if self.quota_open_streams < 1 or self.max_streams_per_connection < 1:
            raise ValueError("quota_open_streams and max_streams_per_connection must be >= 1")

    @property
    def receive_limit(self) -> int:
        """The largest request message in bytes (``max_receive_bytes``, else the quota)."""
        if self.max_receive_bytes is not None:
            return self.max_receive_bytes
        return self.quota_request_bytes

    @property
    def ibm_configured(self) -> bool:
        """Whether an IBM Quantum API key was given (then an instance is required)."""
        return bool(self.ibm_token)

    @classmethod
    def load(
        cls,
        flags: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        config_file: Path | None = None,
    ) -> Settings:
        """Merges the sources (flags > environment > file > defaults) into settings.

        Raises:
            ValueError: an unknown setting, a value of the wrong type, or half a TLS setup.
        """
        values: dict[str, Any] = _read_file(config_file) if config_file else {}
        values.update(_read_environ(os.environ if environ is None else environ))
        values.update({k: v for k, v in (flags or {}).items() if v is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        settings = cls(**{name: _coerce(name, value) for name, value in values.items()})
        return _check_ibm(_with_ibm_token_from_file(settings))

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file (used when ``database`` is None)."""
        return self.state_dir / "gateway.sqlite3"


def _check_tls(settings: Settings) -> None:
    """Refuses half a TLS configuration, which would otherwise serve plaintext silently."""
    if settings.tls_cert is not None and settings.tls_key is None:
        raise ValueError("tls_cert is set but tls_key is not: TLS needs both")
    if settings.tls_key is not None and settings.tls_cert is None:
        raise ValueError("tls_key is set but tls_cert is not: TLS needs both")
    if settings.tls_client_ca is not None and settings.tls_cert is None:
        raise ValueError("tls_client_ca (mutual TLS) needs tls_cert and tls_key")


def _read_file(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return dict(tomllib.load(file))


def _read_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    names = {f.name for f in fields(Settings)} - {"backend_concurrency"}
    return {
        name: environ[ENV_PREFIX + name.upper()]
        for name in names
        if ENV_PREFIX + name.upper() in environ
    }


_TYPES = {f.name: f.type for f in dataclasses.fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    """Turns text from the environment or a flag into the field's type."""
    kind = _TYPES[name]
    if kind == "Path":
        return Path(value).expanduser()
    if kind == "Path | None":
        # An empty variable (``IBMQ_GATEWAY_TLS_CERT=``) unsets the file, as in compose files.
        return Path(value).expanduser() if str(value) else None
    if kind in ("int", "int | None"):
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "tuple[str, ...] | None":
        items = value.split(",") if isinstance(value, str) else value
        return tuple(item.strip() for item in items if item.strip())
    if kind == "dict[str, int]":
        return {str(k): int(v) for k, v in dict(value).items()}
    return str(value)


def _with_ibm_token_from_file(settings: Settings) -> Settings:
    """Reads ``ibm_token_file`` into ``ibm_token`` unless a token was given directly."""
    path = settings.ibm_token_file
    if path is None or settings.ibm_token:
        return settings
    try:
        token = path.read_text().strip()
    except OSError as error:
        raise ValueError(f"ibm_token_file {path}: {error.strerror}") from None
    if not token:
        raise ValueError(f"ibm_token_file {path} is empty")
    return dataclasses.replace(settings, ibm_token=token)


def _check_ibm(settings: Settings) -> Settings:
    """An API key with no instance would fail only later, at IBM; refuse it at start."""
    if settings.ibm_token and not settings.ibm_instance:
        raise ValueError(
            "an IBM Quantum API key is set but no instance: set ibm_instance "
            "(IBMQ_GATEWAY_IBM_INSTANCE) to the instance's CRN"
        )
    return settings
