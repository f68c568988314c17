"""Database addresses: recognise, redact, connect, and turn server errors into OnemapErrors.

A source is a libpq URL ``postgresql://user@host:port/dbname`` (``postgres://`` too). The password
comes from ``PGPASSWORD`` or the ``.pgpass`` file (``~/.pgpass``, or ``PGPASSFILE``) the way every
PostgreSQL client finds it; a password written in the URL works but is never shown:
:func:`redact` removes it from every message, attribute and manifest entry.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from ..errors import DataError, OnemapError

__all__ = ["DatabaseError", "connect", "is_database_url", "redact", "split_table", "translate"]

_SCHEMES = ("postgresql://", "postgres://")
_PASSWORD_HINT = (
    "set PGPASSWORD, or add a line host:port:dbname:user:password to ~/.pgpass "
    "(chmod 600; PGPASSFILE names another file)"
)


class DatabaseError(OnemapError):
    """The database cannot be reached or used: server down, refused login, connection lost."""


def is_database_url(path: Any) -> bool:
    """Is *path* a PostgreSQL URL (not a file)?

    >>> is_database_url("postgresql://gis@db:5432/yzt"), is_database_url("dltb.gpkg")
    (True, False)
    """
    return isinstance(path, str) and path.strip().lower().startswith(_SCHEMES)


def redact(url: str) -> str:
    """*url* without its password (in the user part or a ``password=`` parameter).

    >>> redact("postgresql://gis:s3cret@db:5432/yzt?sslmode=require&password=x")
    'postgresql://gis@db:5432/yzt?sslmode=require'
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _password(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.password:
        return parts.password
    return next((v for k, v in parse_qsl(parts.query) if k.lower() == "password"), None)


def scrub(text: str, url: str) -> str:
    """*text* with the URL's password (if any) and any ``user:password@`` replaced."""
    secret = _password(url)
    if secret:
        text = text.replace(secret, "***")
    return re.sub(r"(postgres(?:ql)?://[^:/@\s]+):[^@\s]*@", r"\1@", text)


def split_table(table: str) -> tuple[str, str]:
    """``"schema.table"`` or ``"table"`` (schema ``public``) as a pair; quotes allowed.

    >>> split_table("dltb"), split_table('yzt."三调_DLTB"')
    (('public', 'dltb'), ('yzt', '三调_DLTB'))
    """
    parts = [p.strip() for p in re.findall(r'"(?:[^"]|"")*"|[^.]+', table.strip())]
    parts = [p[1:-1].replace('""', '"') if p.startswith('"') else p for p in parts]
    if len(parts) == 1:
        return "public", parts[0]
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    raise DataError(
        f"table {table!r} is not a table name", hint='write it as "table" or "schema.table"'
    )


def connect(url: str, **kw: Any) -> psycopg.Connection:
    """Open a connection; :class:`DatabaseError` naming the server (no password) and the fix."""
    try:
        return psycopg.connect(url, connect_timeout=10, application_name="onemap", **kw)
    except psycopg.Error as exc:
        raise translate(exc, url) from None


def translate(exc: BaseException, url: str, what: str = "") -> OnemapError:
    """The OnemapError for a psycopg error *exc* raised while talking to *url*."""
    safe = redact(url) + (f" {what}" if what else "")
    msg = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, url)
    low = str(exc).lower()
    if "password authentication failed" in low or "no password supplied" in low:
        return DatabaseError(
            f"login refused ({msg})",
            path=safe,
            hint=f"check the user name and password: {_PASSWORD_HINT}",
        )
    if re.search(r'database ".*" does not exist', low):
        return DatabaseError(
            f"no such database ({msg})",
            path=safe,
            hint="check the database name at the end of the URL (psql -l lists them)",
        )
    if isinstance(exc, psycopg.OperationalError) and ("connection" in low or "server" in low):
        lost = (
            "server closed the connection" in low
            or "terminating connection" in low
            or "consuming input failed" in low
            or "connection is lost" in low
            or "ssl syscall" in low
        )
        if lost:
            return DatabaseError(
                f"connection lost ({msg}); the transaction was rolled back, the "
                "database holds what it held before",
                path=safe,
                hint="check that the server is up (pg_isready) and run again",
            )
        return DatabaseError(
            f"cannot reach the database server ({msg})",
            path=safe,
            hint="check host and port in the URL and that the server runs and accepts "
            "TCP connections (pg_isready -h HOST -p PORT)",
        )
    if isinstance(exc, (psycopg.errors.AdminShutdown, psycopg.errors.CrashShutdown)):
        return DatabaseError(
            f"the server shut down ({msg}); the transaction was rolled back, the "
            "database holds what it held before",
            path=safe,
            hint="start the server again and rerun",
        )
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return DatabaseError(
            f"permission denied ({msg})",
            path=safe,
            hint="GRANT the role the rights it needs (SELECT to read; CREATE on the "
            "schema and INSERT/DELETE on the tables to write)",
        )
    return DatabaseError(msg, path=safe, hint="see the PostgreSQL message; nothing was changed")
