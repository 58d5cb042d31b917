"""How the ``ibmq-gateway`` command fails: one line on stderr and an exit code, no traceback.

Every command is wrapped by ``reports_failures``. ``explain`` is the one table of expected
failures: the user's input was wrong (exit 2, as for Click's own usage errors) or the
operation failed (exit 1). Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import grpc
import typer
from qiskit.exceptions import QiskitError

from ibmq_gateway.client import IBMQBackendApiError, IBMQBackendValueError, IBMQJobApiError

if TYPE_CHECKING:
    from collections.abc import Callable

FAILED = 1
"""Exit code of an operation that failed: the gateway refused, a job failed, ..."""
USAGE = 2
"""Exit code of wrong input: a bad flag value, a missing or unreadable circuit file, ..."""

# What to try next, for the failures people meet first.
_HINTS = {
    grpc.StatusCode.UNAVAILABLE: "is a gateway running there? see --gateway",
    grpc.StatusCode.UNAUTHENTICATED: "give your gateway token with --token",
}

_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")


class CommandFailure(Exception):
    """A failure a command reports itself.

    Args:
        message: What went wrong, for people.
        exit_code: ``FAILED`` or ``USAGE``.
    """

    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


_EXPECTED = (CommandFailure, OSError, QiskitError, grpc.RpcError)
"""What ``explain`` knows; anything else keeps its traceback."""


def reports_failures(command: Callable[_Params, _Result]) -> Callable[_Params, _Result]:
    """Wraps a command so that an expected failure ends it with one line and an exit code."""

    @functools.wraps(command)
    def run(*args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
        try:
            return command(*args, **kwargs)
        except _EXPECTED as err:
            message, exit_code = explain(err)
            typer.echo(f"ibmq-gateway: {one_line(message)}", err=True)
            raise typer.Exit(exit_code) from None

    return run


def explain(err: Exception) -> tuple[str, int]:
    """The message and exit code of an expected failure."""
    if isinstance(err, CommandFailure):
        return err.message, err.exit_code
    if isinstance(err, IBMQBackendValueError):  # a bad circuit file among them
        return err.message, USAGE
    if isinstance(err, OSError):
        return _os_error(err)
    if isinstance(err, IBMQJobApiError | IBMQBackendApiError):
        return _api_error(err.message, err.code)
    if isinstance(err, grpc.RpcError):
        return _rpc_error(err)
    # The rest are QiskitErrors (QiskitBackendNotFoundError, the client's IBMQError, ...):
    # their text is in .message, as str() of one is a quoted repr.
    return str(getattr(err, "message", err)), FAILED


def one_line(message: str) -> str:
    """``message`` with its lines joined, so that a failure is always a single line."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def _os_error(err: OSError) -> tuple[str, int]:
    if err.filename is None:
        return str(err), FAILED
    exit_code = USAGE if isinstance(err, FileNotFoundError | IsADirectoryError) else FAILED
    return f"{err.filename}: {err.strerror}", exit_code


def _api_error(message: str, code: grpc.StatusCode | None) -> tuple[str, int]:
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return message, USAGE
    hint = _HINTS.get(code) if code else None
    return (f"{message} ({hint})" if hint else message), FAILED


def _rpc_error(err: grpc.RpcError) -> tuple[str, int]:
    code = err.code() if isinstance(err, grpc.Call) else None
    details = err.details() if isinstance(err, grpc.Call) else str(err)
    name = code.name if code is not None else "UNKNOWN"
    return _api_error(f"{name}: {details}", code)
