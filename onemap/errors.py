"""Errors and repair reports.

Every error onemap raises on bad input is an :class:`OnemapError`. Its message names the
source (file), the place in it (line, feature, band) and what the user can do about it, so that
a batch log is enough to fix the input without reading the code.

Repairs that onemap makes on the user's behalf (``make_valid`` of a self-intersecting polygon,
a closed ring, a decoded encoding) are never silent: they are collected as :class:`Repair`
records and issued as :class:`RepairWarning`, and readers attach them to their result in
``.attrs["repairs"]``.

A fix is phrased for whoever has to apply it. A :class:`Fix` carries the Python phrasing
(``crs=onemap.crs.gk_crs(40)``), the survey-TOML phrasing (``[frame] zone = 40``) and, when a
command-line option does it, the CLI phrasing (``--to-crs 4528``). The error picks one when it is
raised, from :func:`speaking` (``run_survey`` speaks TOML, the ``onemap`` command CLI, the
library Python by default); ``exc.fix`` keeps all of them and :meth:`OnemapError.speak`
re-phrases an error for another audience.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from os import PathLike

__all__ = [
    "OnemapError",
    "CRSError",
    "FormatError",
    "EncodingError",
    "GeometryError",
    "DataError",
    "NoValidPixelsError",
    "FrameError",
    "ConfigError",
    "InvariantError",
    "Repair",
    "RepairWarning",
    "OnemapWarning",
    "report_repairs",
    "Fix",
    "speaking",
    "audience",
]

AUDIENCES = ("python", "toml", "cli")
_AUDIENCE: ContextVar[tuple[str, str | None]] = ContextVar(
    "onemap_audience", default=("python", None)
)


def audience() -> str:
    """Who errors are phrased for right now: ``"python"``, ``"toml"`` or ``"cli"``."""
    return _AUDIENCE.get()[0]


@contextmanager
def speaking(who: str, table: str | None = None) -> Iterator[None]:
    """Phrase the fixes of errors raised inside for *who* (``"python"``, ``"toml"``, ``"cli"``).

    *table* names the TOML table being read (``"layers.approvals"``): a fix's TOML phrasing may
    say ``[{table}]``.

    Examples
    --------
    >>> fix = Fix("pass allow_empty=True", toml="set allow_empty = true under [{table}]")
    >>> with speaking("toml", table="layers.approvals"):
    ...     print(DataError("the layer has no features", hint=fix))
    the layer has no features. Fix: set allow_empty = true under [layers.approvals]
    >>> print(DataError("the layer has no features", hint=fix))
    the layer has no features. Fix: pass allow_empty=True
    """
    if who not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, got {who!r}")
    outer = _AUDIENCE.get()
    # a survey run from the command line still speaks TOML; the CLI does not override it
    inherited = outer[1] if who == outer[0] else None
    token = _AUDIENCE.set((who, table if table is not None else inherited))
    try:
        yield
    finally:
        _AUDIENCE.reset(token)


@dataclass(frozen=True)
class Fix:
    """What to do about an error, in the words of each audience.

    Parameters
    ----------
    python
        For a library user: arguments (``pass crs=onemap.crs.gk_crs(40)``).
    toml
        For a survey TOML (``set [frame] zone = 40``); ``{table}`` is the table being read when
        known. Default: the Python phrasing.
    cli
        For the ``onemap`` command (``--to-crs 4528``); default: the TOML phrasing.
    """

    python: str
    toml: str | None = None
    cli: str | None = None

    def phrase(self, who: str | None = None, table: str | None = None) -> str:
        """The fix for *who* (default: the current :func:`audience`)."""
        who = who or audience()
        if table is None and who == audience():
            table = _AUDIENCE.get()[1]
        text = {"python": self.python, "toml": self.toml or self.python,
                "cli": self.cli or self.toml or self.python}[who]
        return text.replace("{table}", table or "layers.NAME")

    def __str__(self) -> str:
        return self.phrase()


class OnemapError(Exception):
    """Base class of every error onemap raises on bad input.

    Parameters
    ----------
    message
        What is wrong.
    path
        The file concerned, if any.
    line
        1-based line number in a text file.
    feature
        Feature index or id in a layer, or band name in a raster.
    hint
        What the user can do to fix it.

    Examples
    --------
    >>> err = FormatError("point line has 3 fields, expected 4", path="a.txt", line=12,
    ...                   hint="write points as 点号,圈号,X,Y")
    >>> print(err)
    a.txt, line 12: point line has 3 fields, expected 4. Fix: write points as 点号,圈号,X,Y
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike | None = None,
        line: int | None = None,
        feature: object | None = None,
        hint: str | Fix | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.feature = feature
        #: the fix in every phrasing (None when it was given as plain text)
        self.fix = hint if isinstance(hint, Fix) else None
        self.hint = hint.phrase() if isinstance(hint, Fix) else hint
        super().__init__(self._format())

    def speak(self, who: str, table: str | None = None) -> OnemapError:
        """Re-phrase the fix for *who* (in place; returns the error). No-op for a plain-text fix."""
        if self.fix is not None:
            self.hint = self.fix.phrase(who, table)
            self.args = (self._format(),)
        return self

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.feature is not None:
            where.append(f"feature {self.feature}")
        text = (", ".join(where) + ": " if where else "") + self.message.rstrip(".")
        if self.hint:
            text += f". Fix: {self.hint}"
        return text


class CRSError(OnemapError):
    """Missing, unknown or inconsistent coordinate reference system (or zone)."""


class FormatError(OnemapError):
    """A file does not follow its format (malformed TXT line, unreadable raster, ...)."""


class EncodingError(FormatError):
    """Text or attributes cannot be decoded with any supported encoding."""


class GeometryError(OnemapError):
    """Geometry that cannot be used or repaired (wrong type, empty, unrepairable)."""


class DataError(OnemapError):
    """Values that cannot be used: empty layer, all nodata, missing band or column."""


class NoValidPixelsError(DataError):
    """No pixel is valid in both dates (nodata, clouds or mask everywhere): the change score is
    NaN everywhere, so no threshold and no patch can be computed."""


class FrameError(OnemapError):
    """Rasters or frames that do not line up (different grid, rotation, no overlap)."""


class ConfigError(OnemapError):
    """A survey configuration that is invalid; names the key and the file."""


class InvariantError(OnemapError):
    """An internal consistency check failed (areas do not add up, ...): a bug or corrupt data."""


class OnemapWarning(UserWarning):
    """Base class of onemap warnings."""


class RepairWarning(OnemapWarning):
    """Issued when onemap repaired the input on the user's behalf."""


@dataclass(frozen=True)
class Repair:
    """One repair made on input data: where, what was wrong, what was done."""

    source: str
    where: str
    problem: str
    action: str

    def __str__(self) -> str:
        return f"{self.source}, {self.where}: {self.problem} -> {self.action}"


def report_repairs(repairs: list[Repair], stacklevel: int = 3) -> list[Repair]:
    """Issue one :class:`RepairWarning` summarising *repairs* and return them unchanged."""
    if repairs:
        head = "; ".join(str(r) for r in repairs[:5])
        more = f" (+{len(repairs) - 5} more)" if len(repairs) > 5 else ""
        warnings.warn(
            f"{len(repairs)} repair(s): {head}{more}", RepairWarning, stacklevel=stacklevel
        )
    return repairs
