"""The one-map database: layers from PostGIS, survey results back into it.

Reading goes through :func:`onemap.read_layer` with a ``postgresql://`` URL (see
:mod:`onemap.db.read`); writing through :func:`write_results` (see :mod:`onemap.db.write`).
Passwords come from ``PGPASSWORD`` or ``.pgpass`` and never appear in messages or manifests
(:func:`redact`).
"""

from .read import fetch_layer
from .source import DatabaseError, is_database_url, redact
from .write import SurveyKey, write_results, write_tables

__all__ = [
    "DatabaseError",
    "SurveyKey",
    "fetch_layer",
    "is_database_url",
    "redact",
    "write_results",
    "write_tables",
]
