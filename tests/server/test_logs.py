"""Logs: JSON lines, one line per RPC with its method, status, duration and caller, no payload."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest

from ibmq_gateway.server.core.settings import Settings
from ibmq_gateway.server.ops.logs import RPC_LOGGER, JsonFormatter, configure_logging
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.conftest import TEST_TOKEN
from tests.helpers import BELL_QASM3, connect, states_until_final, submit

# Text only the request carries: if it shows up in a log line, the request leaked.
PRIVATE_CIRCUIT = BELL_QASM3 + "// private-circuit-marker\n"


@pytest.fixture
def captured():
    """The gateway's log records at INFO, as the JSON formatter writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ibmq_gateway")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def pristine_logging():
    """Puts back the root logger's handlers and the levels that configure_logging changes."""
    root, ours = logging.getLogger(), logging.getLogger("ibmq_gateway")
    handlers, levels = root.handlers[:], (root.level, ours.level)
    yield
    root.handlers[:] = handlers
    root.setLevel(levels[0])
    ours.setLevel(levels[1])


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _rpc_lines_until(stream: io.StringIO, count: int) -> list[dict[str, object]]:
    """The RPC lines once there are ``count`` of them (an abort reaches the client first)."""
    deadline = time.monotonic() + 10
    while True:
        lines = _lines(stream)
        assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
        rpcs = [line for line in lines if line["logger"] == RPC_LOGGER]
        if len(rpcs) >= count or time.monotonic() > deadline:
            return rpcs
        time.sleep(0.02)


def _submit_private(stubs) -> job_pb2.Job:
    request = job_service_pb2.SubmitJobRequest(
        backend="aer_simulator", circuits=[job_pb2.Circuit(qasm3=PRIVATE_CIRCUIT)]
    )
    response = stubs.jobs.SubmitJob(request)
    job: job_pb2.Job = response.job
    return job


def test_every_rpc_is_one_json_line_without_the_request(stubs, captured):
    job = _submit_private(stubs)
    states_until_final(stubs, job.id)  # the whole WatchJob, through its OK
    stubs.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job.id))
    bad = job_pb2.Circuit(qasm3=PRIVATE_CIRCUIT + "not_a_gate q[0];")
    with pytest.raises(grpc.RpcError):
        submit(stubs, "aer_simulator", bad)

    rpcs = _rpc_lines_until(captured, 4)
    assert [(line["method"], line["code"]) for line in rpcs] == [
        ("SubmitJob", "OK"),
        ("WatchJob", "OK"),
        ("GetJob", "OK"),
        ("SubmitJob", "INVALID_ARGUMENT"),
    ]
    for line in rpcs:
        assert line["level"] == "INFO"
        assert line["service"] == "ibmq_gateway.v1.JobService"
        assert line["principal"] == "admin"
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert "private-circuit-marker" not in captured.getvalue()
    # Every call of the test stubs carried the admin's bearer token.
    assert TEST_TOKEN not in captured.getvalue()


def test_json_formatter_writes_time_level_logger_message_and_extras():
    logger = logging.getLogger("ibmq_gateway.test")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logger.makeRecord(
            logger.name,
            logging.ERROR,
            __file__,
            1,
            "job %s failed",
            ("j1",),
            sys.exc_info(),
            extra={"job_id": "j1", "attempt": 2},
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "ERROR" and line["logger"] == "ibmq_gateway.test"
    assert line["message"] == "job j1 failed"
    assert line["job_id"] == "j1" and line["attempt"] == 2
    assert "RuntimeError: boom" in line["exception"]
    assert line["time"].endswith("+00:00")
    assert not {"msg", "args", "levelno", "pathname"} & set(line)


@pytest.mark.usefixtures("pristine_logging")
def test_configure_logging_keeps_libraries_at_warning():
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    logging.getLogger("ibmq_gateway.server.test").debug("ours")
    logging.getLogger("qiskit.transpiler").info("theirs, quiet")
    logging.getLogger("qiskit.transpiler").warning("theirs, loud")
    assert [line["message"] for line in _lines(stream)] == ["ours", "theirs, loud"]


@pytest.mark.usefixtures("pristine_logging")
def test_configure_logging_refuses_an_unknown_format():
    with pytest.raises(ValueError, match="unknown log format"):
        configure_logging("INFO", "yaml")


def test_log_format_comes_from_the_environment():
    assert Settings.load(environ={"IBMQ_GATEWAY_LOG_FORMAT": "json"}).log_format == "json"
    assert Settings.load(environ={}).log_format == "text"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_logs_json_and_serves_metrics_when_asked(tmp_path):
    address, metrics_port = f"127.0.0.1:{_free_port()}", _free_port()
    command = [
        *(sys.executable, "-m", "ibmq_gateway.server.cli", "serve", "--address", address),
        *("--state-dir", str(tmp_path / "state"), "--log-format", "json"),
        *("--metrics-port", str(metrics_port)),
    ]
    environ = {**os.environ, "IBMQ_GATEWAY_FAKE_DEVICES": ""}
    with (tmp_path / "stderr").open("w") as errors:
        process = subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        stubs = connect(address)
        grpc.channel_ready_future(stubs.channel).result(timeout=60)
        submit(stubs)
        stubs.close()
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b"ibmq_gateway_rpc_requests_total" in response.read()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    lines = [json.loads(line) for line in (tmp_path / "stderr").read_text().splitlines()]
    assert any(line.get("method") == "SubmitJob" and line["code"] == "OK" for line in lines)
    assert any(line["message"] == "gateway stopped" for line in lines)
