"""A real PostGIS server for the database tests, started once per session.

Skipped, with the reason and what to install, when the PostgreSQL/PostGIS binaries are absent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ._cluster import Cluster, ClusterUnavailable


@pytest.fixture(scope="session")
def pg() -> Iterator[Cluster]:
    """A running throwaway cluster (see :mod:`tests.db._cluster`); ``pg.url`` has no password,
    the client finds it in the cluster's ``.pgpass`` (``PGPASSFILE``)."""
    try:
        cluster = Cluster()
    except ClusterUnavailable as exc:
        pytest.skip(str(exc))
    old = os.environ.get("PGPASSFILE")
    os.environ["PGPASSFILE"] = str(cluster.pgpass)
    try:
        try:
            cluster.start()
        except ClusterUnavailable as exc:
            pytest.skip(str(exc))
        yield cluster
    finally:
        cluster.destroy()
        if old is None:
            os.environ.pop("PGPASSFILE", None)
        else:
            os.environ["PGPASSFILE"] = old


@pytest.fixture()
def sql(pg: Cluster):
    """Run SQL as the ``onemap`` role; returns all rows of the last statement (or None)."""
    import psycopg

    def run(statement: str, params: tuple = ()) -> list[tuple] | None:
        with psycopg.connect(pg.url, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else None

    run.url = pg.url  # type: ignore[attr-defined]
    return run
