"""Start-up time and peak memory of a fresh ``ibmq-gateway serve``, and the install sizes.

Each run spawns ``ibmq-gateway serve`` (free loopback port, fresh state directory) and times
it until gRPC health (Check of the JobService, no token) says SERVING, then reads its peak
RSS (VmHWM). (a) Aer only; (b) the default local backends (IBM fake devices, so
qiskit-ibm-runtime is imported); (c) IBM configured against a FakeIBM in this process, no fake
devices: start awaits the first IBM connect; ListBackends is timed until it lists
``ibm_fake_manila``. Then sizes of the installed distributions (their RECORD files).

    .venv/bin/python bench/server_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import os
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from shared import BENCH_TOKEN, loopback_credentials, positive

from ibmq_gateway.v1 import backend_service_pb2, backend_service_pb2_grpc, job_service_pb2

# The repository's root, for tests.ibm.fake: the loopback fake of IBM.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CLI = Path(sys.prefix) / "bin" / "ibmq-gateway"
SERVE = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "ibmq_gateway.server.cli"]
JOB_SERVICE = job_service_pb2.DESCRIPTOR.services_by_name["JobService"].full_name
IBM_DEVICE = "ibm_fake_manila"
START_TIMEOUT = 180.0
# Reconnect at once when the port opens, not after gRPC's default one-second backoff.
FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 5),
    ("grpc.min_reconnect_backoff_ms", 5),
    ("grpc.max_reconnect_backoff_ms", 20),
]
# Variables that would send IBM's client elsewhere than the fake, or through a proxy.
FOREIGN = ("QISKIT_IBM_", "QISKIT_FUNCTIONS", "IBM_CREDENTIALS", "HTTP", "ALL_PROXY")
MB = 1e6


@dataclass(frozen=True)
class Config:
    name: str
    env: dict[str, str]
    ibm_device: str | None = None  # also time ListBackends until it lists this device


@dataclass(frozen=True)
class Start:
    serving: float
    listed: float | None  # until ListBackends lists the IBM device (config c only)
    peak_rss_mb: float | None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--runs", type=positive, default=5, help="starts per configuration")
    return parser.parse_args()


def base_environ(**extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("IBMQ_GATEWAY_") and not name.upper().startswith(FOREIGN)
    }
    # A known admin token, for ListBackends (health needs none).
    return {**env, "IBMQ_GATEWAY_BOOTSTRAP_TOKEN": BENCH_TOKEN, **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_serving(address: str, process: subprocess.Popen[bytes], began: float) -> float:
    request = health_pb2.HealthCheckRequest(service=JOB_SERVICE)
    with grpc.insecure_channel(address, options=FAST_RECONNECT) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.perf_counter() - began < START_TIMEOUT:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with status {process.returncode}")
            try:
                reply = stub.Check(request, timeout=0.5, wait_for_ready=True)
            except grpc.RpcError:  # not listening yet, or JobService not yet in health
                time.sleep(0.005)
                continue
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return time.perf_counter() - began
    raise TimeoutError(f"no SERVING within {START_TIMEOUT:.0f} s")


def wait_listed(address: str, device: str, began: float) -> float:
    request = backend_service_pb2.ListBackendsRequest(omit_targets=True)
    with grpc.secure_channel(address, loopback_credentials()) as channel:
        stub = backend_service_pb2_grpc.BackendServiceStub(channel)
        while time.perf_counter() - began < START_TIMEOUT:
            reply = stub.ListBackends(request, timeout=30)
            if any(backend.name == device for backend in reply.backends):
                return time.perf_counter() - began
            time.sleep(0.01)
    raise TimeoutError(f"{device} not listed within {START_TIMEOUT:.0f} s")


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), in MB; None where /proc cannot tell."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in lines if line.startswith("VmHWM:")), None)
    return None if kib is None else kib * 1024 / MB


def start_once(config: Config) -> Start:
    with tempfile.TemporaryDirectory(prefix="server-start-") as tmp:
        address = f"127.0.0.1:{free_port()}"
        command = [*SERVE, "serve", "--address", address, "--state-dir", f"{tmp}/state"]
        log_path = Path(tmp) / "serve.log"
        with log_path.open("wb") as log:
            began = time.perf_counter()
            process = subprocess.Popen(command, env=config.env, stdout=log, stderr=log)
            try:
                serving = wait_serving(address, process, began)
                device = config.ibm_device
                listed = wait_listed(address, device, began) if device else None
                return Start(serving, listed, peak_rss_mb(process.pid))
            except Exception as error:
                output = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{config.name}: {error}\n{output}") from error
            finally:
                process.terminate()  # SIGTERM: a graceful stop
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def seconds(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"median {statistics.median(values):.2f} s (min {low:.2f}, max {high:.2f})"


def measure_starts(runs: int) -> None:
    from tests.ibm.fake import FakeIBM

    print(f"ibmq-gateway serve, from spawn to health SERVING, N={runs} per configuration:")
    with FakeIBM() as fake:
        configs = [
            Config("(a) Aer only", base_environ(IBMQ_GATEWAY_FAKE_DEVICES="")),
            Config("(b) default local backends", base_environ()),
            Config(
                "(c) IBM (FakeIBM), no fake devices",
                base_environ(
                    **fake.environ(),
                    IBMQ_GATEWAY_FAKE_DEVICES="",
                    IBMQ_GATEWAY_IBM_TOKEN=fake.api_key,
                    IBMQ_GATEWAY_IBM_INSTANCE=fake.instance_crn,
                    IBMQ_GATEWAY_IBM_URL=fake.api_url,
                    NO_PROXY="127.0.0.1,localhost",
                ),
                ibm_device=IBM_DEVICE,
            ),
        ]
        for config in configs:
            starts = [start_once(config) for _ in range(runs)]
            line = f"  {config.name}: SERVING {seconds([s.serving for s in starts])}"
            rss = [s.peak_rss_mb for s in starts if s.peak_rss_mb is not None]
            if rss:
                line += f" | peak RSS median {statistics.median(rss):.0f} MB"
            print(line)
            listed = [s.listed for s in starts if s.listed is not None]
            if listed:
                print(f"      ListBackends lists {config.ibm_device}: {seconds(listed)}")


# -- install sizes -------------------------------------------------------------------------


def size_of(dist: metadata.Distribution) -> int:
    """Bytes on disk of the files the distribution's RECORD lists (those that exist)."""
    paths = (Path(str(dist.locate_file(file))) for file in dist.files or [])
    return sum(path.lstat().st_size for path in paths if path.is_file() or path.is_symlink())


def requires(dist: metadata.Distribution, extras: frozenset[str]) -> list[Requirement]:
    """The distribution's requirements that apply with these extras (on this platform)."""
    found = []
    for text in dist.requires or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": e}) for e in {"", *extras}):
            found.append(requirement)
    return found


def closure(roots: list[Requirement], dists: dict[str, metadata.Distribution]) -> set[str]:
    """The installed distributions the requirements need, transitively (with extras)."""
    todo = [(canonicalize_name(r.name), frozenset(r.extras)) for r in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        key = todo.pop()
        if key in seen or key[0] not in dists:
            continue
        seen.add(key)
        todo += [
            (canonicalize_name(r.name), frozenset(r.extras))
            for r in requires(dists[key[0]], key[1])
        ]
    return {name for name, _ in seen}


def tree_size(directory: Path) -> int:
    return sum(path.lstat().st_size for path in directory.rglob("*") if not path.is_dir())


def report_sizes(top: int = 12) -> None:
    site_packages = Path(sysconfig.get_paths()["purelib"])
    found = metadata.distributions(path=[str(site_packages)])
    dists: dict[str, metadata.Distribution] = {
        canonicalize_name(dist.metadata["Name"]): dist for dist in found
    }
    sizes = {name: size_of(dist) for name, dist in dists.items()}
    server_roots = requires(dists["ibmq-gateway"], frozenset({"server"}))
    ibm = [r for r in server_roots if canonicalize_name(r.name) == "qiskit-ibm-runtime"]
    others = [r for r in server_roots if canonicalize_name(r.name) != "qiskit-ibm-runtime"]
    server = closure(server_roots, dists)
    only_ibm = closure(ibm, dists) - closure(others, dists)
    server_mb = sum(sizes[name] for name in server) / MB
    ibm_mb = sum(sizes[name] for name in only_ibm) / MB
    total_mb = tree_size(site_packages) / MB
    print("install sizes on disk (MB = 10^6 bytes; files in each distribution's RECORD):")
    print(f"  this venv's site-packages, every file (dev tools too): {total_mb:.1f} MB")
    print(
        f"  ibmq-gateway[server]'s dependencies ({len(server)} distributions): {server_mb:.1f} MB"
    )
    print(
        f"  qiskit-ibm-runtime and what only it brings ({len(only_ibm)} distributions): "
        f"{ibm_mb:.1f} MB ({ibm_mb / server_mb:.0%} of the server's)"
    )
    ranked = sorted(only_ibm, key=sizes.__getitem__, reverse=True)
    for name in ranked[:top]:
        print(f"    {name:<28} {sizes[name] / MB:7.1f} MB")
    if ranked[top:]:
        rest_mb = sum(sizes[name] for name in ranked[top:]) / MB
        print(f"    {f'{len(ranked) - top} others':<28} {rest_mb:7.1f} MB")


def main() -> None:
    args = parse_args()
    measure_starts(args.runs)
    report_sizes()


if __name__ == "__main__":
    main()
