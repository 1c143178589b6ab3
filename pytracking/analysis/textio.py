"""Fast, strict readers for the numeric text files of tracking datasets and results.

Annotation and result files are rows of numbers separated by commas, tabs or spaces
(``groundtruth.txt``, ``<sequence>.txt``, ``cover.label``, LaSOT's one-line
``full_occlusion.txt``). Parsing goes through one ``str.split`` and one ``np.array`` call per
file, so a LaSOT-sized results folder (280 files x 2500 lines) loads in a fraction of a
second; only when something is wrong does a slow line-by-line pass run, to name the line.
"""
from __future__ import annotations

import os
from typing import Optional, Type, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]


class TableFormatError(ValueError):
    """A numeric text file is malformed.

    Attributes:
        path: the file.
        line: 1-based line number of the first bad line, or None when the problem is global
            (e.g. the wrong number of lines).
    """

    def __init__(self, path: PathLike, line: Optional[int], problem: str):
        self.path = str(path)
        self.line = line
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


def _normalise_delimiters(text: str) -> str:
    # Commas, tabs and semicolons all become blanks so one split() handles every dialect.
    return text.replace(",", " ").replace("\t", " ").replace(";", " ")


def _content_lines(text: str) -> list:
    lines = text.splitlines()
    # A trailing newline or trailing blank lines are common and harmless; blank lines in the
    # middle of a file are not (they shift every later frame) and are reported below.
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _tokens_per_line(joined: str, nlines: int) -> np.ndarray:
    """Number of blank-separated tokens on each line of ``joined`` (lines separated by '\\n').

    Counted on the raw bytes with numpy (a token starts where a non-blank byte follows a blank
    one), so validating a 2500-line file costs no Python loop over its lines.
    """
    data = np.frombuffer(joined.encode("utf-8", "replace"), dtype=np.uint8)
    newline = data == 10
    blank = newline | (data == 32)
    starts = ~blank
    starts[1:] &= blank[:-1]
    line_of_byte = np.cumsum(newline)
    return np.bincount(line_of_byte[starts], minlength=nlines)[:nlines]


def _parse_slowly(lines: list, ncols: Optional[int], path: PathLike,
                  error_cls: Type[TableFormatError]) -> np.ndarray:
    """Line-by-line parse: raises for the first line that is not a row of ``ncols`` numbers."""
    rows = []
    for number, line in enumerate(lines, start=1):
        tokens = _normalise_delimiters(line).split()
        if not tokens:
            raise error_cls(path, number, "empty line inside the file")
        if ncols is not None and len(tokens) != ncols:
            raise error_cls(path, number, f"expected {ncols} numbers, found {len(tokens)} ({line.strip()!r})")
        values = []
        for token in tokens:
            try:
                values.append(float(token))
            except ValueError:
                raise error_cls(path, number, f"cannot parse {token!r} as a number ({line.strip()!r})") from None
        rows.append(values)
    if ncols is None:
        return np.array([v for row in rows for v in row], dtype=np.float64)
    return np.array(rows, dtype=np.float64).reshape(len(rows), ncols)


def parse_numeric_table(text: str, ncols: Optional[int], path: PathLike = "<text>",
                        allow_nonfinite: bool = False,
                        error_cls: Type[TableFormatError] = TableFormatError) -> np.ndarray:
    """Parse rows of numbers.

    Args:
        text: file content.
        ncols: numbers per line; None reads every number of the file into a flat vector
            (for label files written either one value per line or all on one line).
        path: used in error messages only.
        allow_nonfinite: accept NaN/inf values (some annotation files mark unknown boxes with NaN).
        error_cls: exception type raised (a TableFormatError subclass).
    Returns:
        float64 array of shape (rows, ncols), or (count,) when ``ncols`` is None.
    Raises:
        error_cls naming the file and the first bad line.
    """
    lines = _content_lines(text)
    if not lines:
        return np.zeros((0, ncols) if ncols is not None else (0,), dtype=np.float64)
    joined = _normalise_delimiters("\n".join(lines))
    tokens = joined.split()
    values = None
    if ncols is None or (len(tokens) == ncols * len(lines)
                         and bool((_tokens_per_line(joined, len(lines)) == ncols).all())):
        try:
            values = np.array(tokens, dtype=np.float64)
        except ValueError:
            values = None
    if values is None:
        values = _parse_slowly(lines, ncols, path, error_cls)
    if ncols is None:
        if not allow_nonfinite and not np.isfinite(values).all():
            raise error_cls(path, None, "contains NaN or infinite values")
        return values
    table = values.reshape(len(lines), ncols)
    if not allow_nonfinite:
        bad = ~np.isfinite(table).all(axis=1)
        if bad.any():
            row = int(np.argmax(bad))
            raise error_cls(path, row + 1, f"NaN or infinite value ({lines[row].strip()!r})")
    return table


def read_numeric_table(path: PathLike, ncols: Optional[int] = None, allow_nonfinite: bool = False,
                       error_cls: Type[TableFormatError] = TableFormatError) -> np.ndarray:
    """Read a numeric text file (see :func:`parse_numeric_table`)."""
    try:
        with open(path, "r", encoding="utf-8-sig") as handle:
            text = handle.read()
    except UnicodeDecodeError as exc:
        raise error_cls(path, None, f"not a text file ({exc.reason})") from None
    return parse_numeric_table(text, ncols, path=path, allow_nonfinite=allow_nonfinite, error_cls=error_cls)


def read_boxes(path: PathLike, allow_nonfinite: bool = False) -> np.ndarray:
    """Read an (N, 4) xywh box file (ground truth); one box per line."""
    return read_numeric_table(path, ncols=4, allow_nonfinite=allow_nonfinite)


def read_flags(path: PathLike) -> np.ndarray:
    """Read a per-frame label file (one value per line, or all values on one line) as float64."""
    return read_numeric_table(path, ncols=None, allow_nonfinite=True)
