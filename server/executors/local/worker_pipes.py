"""Worker processes that the event loop talks to directly, over one pipe each.

``concurrent.futures``' process pool passes every task through two threads of the gateway
(one feeds the workers' queue, one reads their answers) and then hands the answer to the
event loop: three handovers, each waiting its turn for the interpreter lock while the
gateway is busy. Here the event loop writes a task to a free worker's pipe, and the loop's
selector wakes it when the answer is there (``add_reader``): nothing stands in between. In
``bench/bell_steps.py``, run back to back, a Bell job's round trip to its worker took 1.9 ms
this way against 2.7 ms through the pool (Aer's own run: 0.7 ms).

A task runs to its end once sent, even if its caller stops waiting; the worker is free again
only then (``done`` says so). A worker that dies (the OOM killer, an operator's kill) fails
its task with ``WorkerDied`` and a new one takes its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import BaseContext

_log = logging.getLogger(__name__)

WORKER_NAME = "ibmq-gateway-worker"
STOP_WAIT_S = 10.0
"""How long ``close`` waits for an idle worker to exit before it kills it."""


class WorkerDied(Exception):
    """The worker process ended before it answered."""


class _Worker:
    """One worker process and the gateway's end of its pipe."""

    def __init__(
        self, context: BaseContext, initializer: Callable[..., None], args: tuple[Any, ...]
    ) -> None:
        self.connection, theirs = context.Pipe()
        # Daemonic: a gateway that exits without closing its workers ends them, rather than
        # waiting at exit for workers that wait for their next task.
        self.process = context.Process(  # type: ignore[attr-defined]
            target=serve, args=(theirs, initializer, args), name=WORKER_NAME, daemon=True
        )
        self.process.start()
        theirs.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.close()


class WorkerPipes:
    """Up to ``count`` worker processes, each doing one task at a time, started as needed.

    Callers keep at most ``count`` tasks under way (the local executor's ``WorkerSlots``);
    ``done`` is called each time a task ends, answered or with its worker dead, so that a
    slot is free again. Used on the event loop only.
    """

    def __init__(
        self,
        count: int,
        context: BaseContext,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...],
        done: Callable[[], None],
    ) -> None:
        self._count = count
        self._context = context
        self._initializer = initializer
        self._initargs = initargs
        self._done = done
        self._idle: list[_Worker] = []
        self._busy: dict[_Worker, asyncio.Future[None]] = {}
        """Each worker with a task, and a future done once it has answered or died."""

    def submit(
        self, function: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> asyncio.Future[Any]:
        """Sends ``function(*args, **kwargs)`` to a free worker; the future is its answer.

        Cancelling the future drops the answer; the worker still finishes the task.

        Raises:
            RuntimeError: every worker is busy (the caller took more than ``count``).
            WorkerDied: the worker was gone, and so was the one started in its place.
        """
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        worker = self._free_worker()
        try:
            worker.connection.send((function, args, kwargs))
        except OSError:
            # It died while idle: a fresh one gets the task (and a second death is reported).
            worker.close()
            worker = self._started()
            try:
                worker.connection.send((function, args, kwargs))
            except OSError as error:
                worker.close()
                raise WorkerDied(f"a new worker process ended at once: {error}") from error
        except BaseException:
            self._idle.append(worker)  # nothing was sent (the task did not pickle)
            raise
        self._busy[worker] = loop.create_future()
        loop.add_reader(worker.connection.fileno(), self._answered, worker, answer)
        return answer

    async def close(self) -> None:
        """Waits for the tasks under way, then stops every worker."""
        if self._busy:
            # wait, not gather: a close that is itself cancelled leaves the futures alone.
            await asyncio.wait(list(self._busy.values()))
        for worker in self._idle:
            with contextlib.suppress(OSError):
                worker.connection.send(None)
        await asyncio.gather(*(asyncio.to_thread(_stop, worker) for worker in self._idle))
        self._idle.clear()

    def _free_worker(self) -> _Worker:
        if self._idle:
            return self._idle.pop()
        if len(self._busy) >= self._count:
            raise RuntimeError(f"all {self._count} worker processes are busy")
        return self._started()

    def _started(self) -> _Worker:
        return _Worker(self._context, self._initializer, self._initargs)

    def _answered(self, worker: _Worker, answer: asyncio.Future[Any]) -> None:
        asyncio.get_running_loop().remove_reader(worker.connection.fileno())
        finished = self._busy.pop(worker)
        try:
            succeeded, value = worker.connection.recv()
        except (EOFError, OSError):
            worker.close()
            succeeded, value = False, WorkerDied("the worker process ended before it answered")
        except Exception as error:  # the answer did not unpickle; the worker is fine
            self._idle.append(worker)
            succeeded, value = False, RuntimeError(f"the worker's answer was unreadable: {error}")
        else:
            self._idle.append(worker)
        if not answer.done():  # else its caller stopped waiting: the answer is dropped
            if succeeded:
                answer.set_result(value)
            else:
                answer.set_exception(value)
        finished.set_result(None)
        self._done()


def _stop(worker: _Worker) -> None:
    worker.process.join(STOP_WAIT_S)
    if worker.process.is_alive():
        _log.warning("worker process %s did not stop; killing it", worker.process.pid)
        worker.process.kill()
        worker.process.join()
    worker.close()


def serve(
    connection: Connection, initializer: Callable[..., None], initargs: tuple[Any, ...]
) -> None:
    """In the worker: runs each task it is sent and answers, until told to stop or orphaned."""
    initializer(*initargs)
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return  # the gateway is gone (or dropped its end of the pipe)
        if task is None:
            return
        function, args, kwargs = task
        try:
            answer = (True, function(*args, **kwargs))
        except Exception as error:
            answer = (False, error)
        try:
            connection.send(answer)
        except OSError:
            return  # the gateway is gone
        except Exception as error:  # the result or the error did not pickle
            connection.send((False, RuntimeError(f"{type(error).__name__}: {error}")))
