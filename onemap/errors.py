"""Errors and repair reports.

Every error onemap raises on bad input is an :class:`OnemapError`. Its message names the
source (file), the place in it (line, feature, band) and what the user can do about it, so that
a batch log is enough to fix the input without reading the code.

Repairs that onemap makes on the user's behalf (``make_valid`` of a self-intersecting polygon,
a closed ring, a decoded encoding) are never silent: they are collected as :class:`Repair`
records and issued as :class:`RepairWarning`, and readers attach them to their result in
``.attrs["repairs"]``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from os import PathLike

__all__ = [
    "OnemapError",
    "CRSError",
    "FormatError",
    "EncodingError",
    "GeometryError",
    "DataError",
    "FrameError",
    "ConfigError",
    "InvariantError",
    "Repair",
    "RepairWarning",
    "OnemapWarning",
    "report_repairs",
]


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
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.feature = feature
        self.hint = hint
        super().__init__(self._format())

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
