"""What the gateway knows of the IBM instance's devices: targets, status, calibration.

Read from IBM once the gateway reaches it, then kept fresh in the background: status (online,
queue length) every minute, calibration every quarter of an hour. Readers get the cached copy,
so listing backends or reading properties never waits on IBM. IBM's client passes on no wait
estimate, so the gateway keeps its own per device: a running average of how long its jobs
waited at IBM before running, and of how long they ran.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from ibmq_gateway.server.executors.base import BackendInfo, BackendStatus
from ibmq_gateway.server.executors.ibm.errors import IbmError

if TYPE_CHECKING:
    from ibmq_gateway.server.executors.ibm.client import IbmClient
    from ibmq_gateway.server.executors.ibm.records import IbmDevice

log = logging.getLogger(__name__)

STATUS_EVERY_S = 60.0
PROPERTIES_EVERY_S = 15 * 60.0
DEFAULT_SHOTS = 4000
"""IBM's sampler default when a job does not say."""
_SMOOTHING = 0.2
"""Weight of the newest observation in a running average."""


class IbmDevices:
    """The instance's devices as gateway backends, with their cached live data."""

    def __init__(self, client: IbmClient) -> None:
        self._client = client
        self.infos: dict[str, BackendInfo] = {}
        self._status: dict[str, BackendStatus] = {}
        self._properties: dict[str, dict[str, Any] | None] = {}
        self._waits: dict[str, float] = {}
        self._runs: dict[str, float] = {}

    async def load(self) -> None:
        """Reads every device with its status and calibration.

        Raises:
            IbmError: IBM could not be read.
        """
        devices = await self._client.devices()
        self.infos = {device.name: _backend_info(device) for device in devices}
        await self.refresh_status()
        await self.refresh_properties()

    def status(self, name: str) -> BackendStatus | None:
        """The device's last known status (None before the first read), with the wait the
        gateway expects there when IBM gives none."""
        status = self._status.get(name)
        if status is None:
            return None
        return dataclasses.replace(status, wait_seconds=self.typical_wait(name))

    def record_wait(self, name: str, seconds: float) -> None:
        """One of the gateway's jobs waited ``seconds`` at IBM before it ran on ``name``."""
        _fold(self._waits, name, seconds)

    def record_run(self, name: str, seconds: float) -> None:
        """One of the gateway's jobs ran ``seconds`` on ``name``."""
        _fold(self._runs, name, seconds)

    def typical_wait(self, name: str) -> float | None:
        """How long a job waits at IBM before running on ``name`` (None: no job seen yet)."""
        status = self._status.get(name)
        if status is not None and status.wait_seconds is not None:
            return status.wait_seconds
        return self._waits.get(name)

    def typical_run(self, name: str) -> float | None:
        """How long a job runs on ``name`` (None: no job seen yet)."""
        return self._runs.get(name)

    def properties(self, name: str) -> dict[str, Any] | None:
        """The device's last known calibration, as a ``BackendProperties`` dict."""
        return self._properties.get(name)

    async def refresh_status(self) -> None:
        """Re-reads each device's status; a device that cannot be read keeps its last one."""
        for name in self.infos:
            try:
                found = await self._client.device_status(name)
            except IbmError as error:
                log.warning("reading the status of %s from IBM failed: %s", name, error)
                continue
            self._status[name] = BackendStatus(
                operational=found.operational,
                message=found.message,
                queue_length=found.queue_length,
                wait_seconds=found.wait_seconds,
            )

    async def refresh_properties(self) -> None:
        """Re-reads each device's calibration; one that cannot be read keeps its last one."""
        for name in self.infos:
            try:
                self._properties[name] = await self._client.properties(name)
            except IbmError as error:
                log.warning("reading the calibration of %s from IBM failed: %s", name, error)

    async def follow(self) -> None:
        """Keeps status and calibration fresh until cancelled."""
        since_properties = 0.0
        while True:
            await asyncio.sleep(STATUS_EVERY_S)
            await self.refresh_status()
            since_properties += STATUS_EVERY_S
            if since_properties >= PROPERTIES_EVERY_S:
                since_properties = 0.0
                await self.refresh_properties()


def _fold(averages: dict[str, float], name: str, seconds: float) -> None:
    before = averages.get(name)
    averages[name] = seconds if before is None else before + _SMOOTHING * (seconds - before)


def _backend_info(device: IbmDevice) -> BackendInfo:
    return BackendInfo(
        name=device.name,
        description=device.description,
        version=device.version,
        simulator=device.simulator,
        local=False,
        target=device.target,
        max_shots=device.max_shots,
        max_circuits=device.max_experiments,
        has_properties=True,
        default_shots=DEFAULT_SHOTS,
    )
