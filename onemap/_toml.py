"""Reading a TOML configuration file: syntax errors as a :class:`~onemap.errors.ConfigError`
naming the file, the line and the column, what the line reads and how to fix it.

Python's ``tomllib`` puts the place only into its message (``"... (at line 3, column 7)"``; the
``lineno``/``colno`` attributes come with Python 3.14), so it is read from there.

Examples
--------
>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "survey.toml"
>>> _ = path.write_text('[survey]\\nname = "county"\\n[frame\\nres = 2\\n', encoding="utf-8")
>>> try:
...     load_toml(path)
... except ConfigError as exc:
...     print(exc.line, exc.message)
...     print(exc.hint)
3 not valid TOML at column 7: expected ']' at the end of a table declaration (the line reads '[frame')
close the table name with ']' on the same line, e.g. [frame]
"""  # noqa: E501 (a doctest's expected output: one message line)

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["load_toml", "toml_syntax_error"]

_PLACE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_END = re.compile(r"\s*\(at end of document\)\s*$")
_GENERIC = ("check the syntax there: tables are [name], values key = value, text in quotes "
            '(key = "text"), numbers and true/false without')
# tomllib's reason (start of its message) -> the fix in the words of a TOML file
_FIXES = (
    ("Invalid value", "put text values in quotes, e.g. {example} "
                      "(numbers, true/false and [lists] go without)"),
    ("Expected ']' at the end of a table", "close the table name with ']' on the same line, "
                                           "e.g. [{name}]"),
    ("Expected ']]' at the end of an array", "close the table name with ']]' on the same line, "
                                             "e.g. [[{name}]]"),
    ("Illegal character '\\n'", "close the quoted text on the same line (the same quote it "
                                "opens with), or use triple quotes for several lines"),
    ("Unterminated string", "close the quoted text with the quote it opens with"),
    ("Expected '=' after a key", "write key = value (one key per line; keys with spaces or dots "
                                 'in quotes: "my key" = 1)'),
    ("Cannot overwrite a value", "give each key once per table"),
    ("Cannot declare", "declare each [table] once"),
    ("Expected newline or end of document", "put one key = value per line (a comment starts "
                                            "with #)"),
)


def load_toml(path: str | Path) -> dict[str, Any]:
    """The parsed TOML file *path*; not UTF-8 or not TOML is a :class:`ConfigError`."""
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte offset {exc.start})", path=path,
                          line=data[:exc.start].count(b"\n") + 1,
                          hint="save the TOML file as UTF-8") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise toml_syntax_error(exc, text, path) from exc


def toml_syntax_error(exc: tomllib.TOMLDecodeError, text: str,
                      path: str | Path | None = None) -> ConfigError:
    """A :class:`ConfigError` for *exc* raised on *text*: file, line, column, the line, a fix."""
    reason = str(exc)
    place = _PLACE.search(reason)
    lines = text.splitlines()
    if place:
        line, column = int(place.group(1)), int(place.group(2))
        reason = reason[:place.start()]
    else:  # "(at end of document)": the last line
        line, column = max(len(lines), 1), None
        reason = _END.sub("", reason)
    shown = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    where = f" at column {column}" if column is not None else " at the end of the file"
    message = f"not valid TOML{where}: {reason[:1].lower()}{reason[1:]}"
    if shown:
        message += f" (the line reads {shown[:80]!r})"
    hint = next((fix for start, fix in _FIXES if reason.startswith(start)), _GENERIC)
    table = re.match(r"\[+\s*([^\]\s]*)", shown)
    hint = hint.replace("{name}", table.group(1) if table and table.group(1) else "name")
    entry = re.match(r"([^=\s]+)\s*=\s*(.*)$", shown)  # the line's own key = value as the example
    if entry and not entry.group(2):
        hint = f"give {entry.group(1)} a value (text in quotes: {entry.group(1)} = \"...\")"
    example = f'{entry.group(1)} = "{entry.group(2)}"' if entry else 'out = "model.json"'
    return ConfigError(message, path=path, line=line, hint=hint.replace("{example}", example))
