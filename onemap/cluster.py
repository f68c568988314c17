"""A dask cluster to run a survey on: :func:`connect` to its scheduler, or a :class:`ConfigError`
that names where the address came from and how to start one."""

from __future__ import annotations

from typing import Any

from .errors import ConfigError

__all__ = ["connect"]


def connect(address: str, where: str = "scheduler") -> Any:
    """A ``dask.distributed.Client`` of the cluster at *address*; :class:`ConfigError` naming
    *where* the address came from (``--scheduler``, ``[run] scheduler``) when it cannot be
    reached."""
    from distributed import Client

    try:
        return Client(address, timeout="10s")
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: cannot reach a dask scheduler at {address!r} ({exc})",
                          hint="start the cluster (`dask scheduler`, `dask worker ADDRESS`) and "
                               "pass its address, e.g. tcp://host:8786, or leave it out to run on "
                               "local threads") from exc
