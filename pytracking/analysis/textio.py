"""Fast, strict readers for the numeric text files of tracking datasets and results.

Annotation and result files are rows of numbers separated by commas, tabs or spaces
(``groundtruth.txt``, ``<sequence>.txt``, ``cover.label``, LaSOT's one-line
``full_occlusion.txt``). Files of plain decimals (what trackers and datasets write) are parsed
on their bytes by numpy without a Python loop over lines or numbers (:func:`_parse_fast`), with
the exact values :func:`float` gives. Anything else (exponents, NaN, inf, other text, and every
malformed file) goes through the general parser: one ``str.split`` and one ``np.array`` call
per file, and, only when something is wrong, a line-by-line pass that names the bad line. Both
accept the same files with the same values and errors.

Parsed annotations may be kept on disk (:class:`AnnotationCache`), keyed by the file's path,
size and modification time; :func:`read_numeric_tables` reads many files on a thread pool.
"""
from __future__ import annotations

import io
import os
import re
from typing import List, Optional, Sequence, Type, Union

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


# --------------------------------------------------------------------------------------------
# Fast path: plain decimal files parsed on their bytes with numpy
# --------------------------------------------------------------------------------------------

_UTF8_BOM = b"\xef\xbb\xbf"
#: Bytes the fast path understands: those of numbers (digits, sign, decimal point) and separators.
_NUMBER_BYTES = b"0123456789+-."
_SEPARATOR_BYTES = b" \t,;\r\n"
#: Commas, semicolons and tabs become blanks, carriage returns newlines.
_FAST_SEPARATORS = bytes.maketrans(b",;\t\r", b"   \n")
#: At most 15 significant digits: the digits as an integer stay below 2**53 (exact in float64).
_MAX_DIGITS = 15
_POW10_INT = 10 ** np.arange(_MAX_DIGITS + 1, dtype=np.int64)
_POW10_FLOAT = np.array([float(10 ** k) for k in range(_MAX_DIGITS + 1)])  # exact


def _empty(ncols: Optional[int]) -> np.ndarray:
    return np.zeros((0, ncols) if ncols is not None else (0,), dtype=np.float64)


#: int64 values from np.fromstring at or beyond this may have saturated (it clamps overflow).
_INT_PARSE_LIMIT = 10 ** 18


def _parse_canonical(data: bytes, separators: bytes, ncols: Optional[int]) -> Optional[np.ndarray]:
    """The common layout of :func:`_parse_fast`, checked mostly with byte-string operations.

    ``data``: separators normalised to single-byte ``' '`` / ``'\\n'``, trailing blanks removed;
    ``separators``: its bytes that are not part of a number, in order.
    Applies when numbers are separated by exactly one byte (no leading blanks, no blank lines)
    and are all integers (:func:`_read_integers`), or all have the same number F >= 1 of digits
    after the point (:func:`_read_fixed_decimals`): what ``%d`` and ``%.Nf`` write.
    Returns None for any other file.
    """
    # With exactly one separator between two numbers there is one number more than separators.
    # For rows of ncols numbers, the separators must be ncols - 1 blanks per line; then a line
    # with extra blanks (or a blank line) holds fewer than ncols numbers, which the readers
    # below notice. A flat list needs the layout checked here.
    count = len(separators) + 1
    if ncols is not None:
        rows = separators.count(b"\n") + 1
        if separators != ((b" " * (ncols - 1) + b"\n") * rows)[:-1]:
            return None
    elif (data[:1] in (b" ", b"\n") or b"  " in data or b" \n" in data or b"\n " in data
          or b"\n\n" in data):
        return None
    values = _read_fixed_decimals(data, count) if b"." in data else _read_integers(data, count)
    if values is None or ncols is None:
        return values
    return values.reshape(-1, ncols)


def _read_fixed_decimals(data: bytes, count: int) -> Optional[np.ndarray]:
    """``count`` numbers ``[sign]digits.F digits``, one separator byte apart, or None.

    Every number is located from its point: the F digits follow it, then a separator; the digits
    before it run back to the byte after the previous number's separator, the first of them
    possibly a sign. Each of those bytes is checked, so anything else (a blank too many, a
    second point, a sign inside a number) gives None. The digits make an integer M below 2**53
    and M / 10**F is the exact double of the decimal (see :func:`_parse_fast`).
    """
    first = data.index(b".")
    ends = [i for i in (data.find(b" ", first), data.find(b"\n", first)) if i >= 0]
    fraction_digits = (min(ends) if ends else len(data)) - first - 1
    if not 1 <= fraction_digits <= _MAX_DIGITS:
        return None
    byte = np.frombuffer(data + b" " * (fraction_digits + 1), dtype=np.uint8)  # gathers stay inside
    point_at = np.flatnonzero(byte == 46)
    if len(point_at) != count or (byte[point_at + fraction_digits + 1] > 32).any():
        return None
    mantissa = np.zeros(count, dtype=np.int64)
    for offset in range(1, fraction_digits + 1):
        digit = byte[point_at + offset] - np.uint8(48)
        if (digit >= 10).any():
            return None
        mantissa += digit.astype(np.int64) * _POW10_INT[fraction_digits - offset]
    start = np.empty(count, dtype=np.int64)
    start[0] = 0
    start[1:] = point_at[:-1] + fraction_digits + 2
    length = point_at - start  # bytes before the point: digits, the first may be a sign
    longest = int(length.max())
    if longest > _MAX_DIGITS + 1 - fraction_digits:
        return None  # possibly more than 15 digits
    negative = np.zeros(count, dtype=bool)
    for offset in range(1, longest + 1):
        inside = length >= offset
        before = byte[point_at - offset]
        digit = before - np.uint8(48)
        is_digit = digit < 10
        sign = (length == offset) & ((before == 45) | (before == 43))
        if (inside & ~is_digit & ~sign).any():
            return None
        mantissa += np.where(inside & is_digit, digit, 0).astype(np.int64) * _POW10_INT[fraction_digits + offset - 1]
        negative |= sign & (before == 45)
    if (mantissa >= 2 ** 53).any():
        return None
    values = mantissa.astype(np.float64) / _POW10_FLOAT[fraction_digits]
    np.negative(values, out=values, where=negative)  # keeps -0.0 for "-0.000", as float() does
    return values


def _read_integers(data: bytes, count: int) -> Optional[np.ndarray]:
    """``count`` integers, one separator byte apart, read by numpy's C integer parser, or None."""
    if len(data) == 2 * count - 1:
        # One byte per number (0/1 label files): every other byte, if all are digits.
        digits = np.frombuffer(data, dtype=np.uint8)[::2] - np.uint8(48)
        return digits.astype(np.float64) if (digits < 10).all() else None
    minus_at = None
    if b"-" in data or b"+" in data:
        # Signs only first in a number and followed by a digit.
        byte = np.frombuffer(data + b" ", dtype=np.uint8)
        sign_at = np.flatnonzero(((byte == 45) | (byte == 43)) if b"+" in data else (byte == 45))
        before = byte[sign_at - 1]
        after = byte[sign_at + 1] - np.uint8(48)
        if ((before > 32) & (sign_at > 0)).any() or (after >= 10).any():
            return None
        minus_at = sign_at[byte[sign_at] == 45]
    integers = np.fromstring(data, dtype=np.int64, sep=" ")
    if len(integers) != count or (integers >= _INT_PARSE_LIMIT).any() or (integers <= -_INT_PARSE_LIMIT).any():
        return None
    if minus_at is not None and len(minus_at) and not integers.all():
        # float("-0") is -0.0, which the integers lost; _parse_fast keeps the sign. The number
        # after a minus is the one after as many separators as precede it.
        separator_at = np.flatnonzero(byte <= 32)[:-1]  # without the appended blank
        if (integers[np.searchsorted(separator_at, minus_at)] == 0).any():
            return None
    # int64 -> float64 rounds to nearest like float() on the decimal: the integer is exact.
    return integers.astype(np.float64)


def _parse_fast(raw: bytes, ncols: Optional[int]) -> Optional[np.ndarray]:
    """Parse a file of plain decimals (``-12``, ``3.25``, ``.5``, ``+7.``) without a Python loop.

    Returns the values exactly as :func:`float` gives them, or None when the file needs the
    general parser: other characters (exponents, NaN, inf, comments, non-ASCII text), blank
    lines inside the file, a line with the wrong number of fields, malformed numbers, or more
    digits than exact conversion allows (15 in a number with a point, 18 in an integer). The
    general parser then either accepts the file with the same values or raises the error that
    names the line.

    Each number is read as its digits ``M`` (an integer below 2**53, so exact in float64) and its
    count ``F`` of digits after the point; ``M / 10**F`` divides two exactly representable numbers
    (10**F is exact up to 10**22), so IEEE division rounds it correctly: the same double as
    ``float(token)`` (Clinger's fast path).
    """
    # Trailing blank lines and blanks are harmless (as in the general parser, they are dropped
    # before the lines are split on delimiters).
    data = raw.rstrip(b" \t\r\n")
    if not data:
        return _empty(ncols)
    separators = data.translate(None, _NUMBER_BYTES)
    if separators.translate(None, _SEPARATOR_BYTES):
        return None  # some other byte is left after deleting the understood ones
    if b"\r" in separators:
        data = data.replace(b"\r\n", b"\n")
        separators = separators.replace(b"\r\n", b"\n")
    data = data.translate(_FAST_SEPARATORS)
    values = _parse_canonical(data, separators.translate(_FAST_SEPARATORS), ncols)
    if values is not None:
        return values
    byte = np.frombuffer(data, dtype=np.uint8)

    not_blank = byte > 32  # only ' ' and '\n' are left at or below it
    edges = np.diff(np.concatenate(([0], not_blank.view(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)  # first byte of each number
    ends = np.flatnonzero(edges == -1)  # one past its last byte
    newlines = np.flatnonzero(byte == 10)
    # Fields per line: numbers that start before each newline, differenced.
    per_line = np.diff(np.searchsorted(starts, newlines), prepend=0, append=len(starts))
    if ncols is not None:
        if not (per_line == ncols).all():
            return None
    elif not per_line.all():
        return None

    digit = (byte >= 48) & (byte <= 57)
    first = byte[starts]
    signs_first = np.count_nonzero((first == 43) | (first == 45))
    if np.count_nonzero((byte == 43) | (byte == 45)) != signs_first:
        return None  # a sign inside a number
    digit_count = np.concatenate(([0], np.cumsum(digit, dtype=np.int64)))
    digits_per_token = digit_count[ends] - digit_count[starts]
    if digits_per_token.min() < 1 or digits_per_token.max() > _MAX_DIGITS:
        return None
    dots = np.flatnonzero(byte == 46)
    dot_token = np.searchsorted(starts, dots, side="right") - 1
    if len(dots) > 1 and not (np.diff(dot_token) > 0).all():
        return None  # two points in one number

    # Mantissa: each digit times 10 ** (digits after it in its token).
    digit_values = (byte[digit] - 48).astype(np.int64)
    token_last = np.cumsum(digits_per_token)
    last_of_digit = np.repeat(token_last, digits_per_token)
    after = last_of_digit - np.arange(1, len(digit_values) + 1)
    mantissa = np.add.reduceat(digit_values * _POW10_INT[after], token_last - digits_per_token)
    fraction_digits = np.zeros(len(starts), dtype=np.int64)
    fraction_digits[dot_token] = digit_count[ends[dot_token]] - digit_count[dots]
    values = mantissa.astype(np.float64) / _POW10_FLOAT[fraction_digits]
    np.negative(values, out=values, where=first == 45)
    if ncols is None:
        return values
    return values.reshape(len(per_line), ncols)


def _parse_general(text: str, ncols: Optional[int], path: PathLike, allow_nonfinite: bool,
                   error_cls: Type[TableFormatError]) -> np.ndarray:
    """The general parser (any text :func:`float` reads; names the first bad line)."""
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
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raw = None
    values = _parse_fast(raw, ncols) if raw is not None else None
    if values is not None:
        return values
    return _parse_general(text, ncols, path, allow_nonfinite, error_cls)


def _decode(raw: bytes, path: PathLike, error_cls: Type[TableFormatError]) -> str:
    # What reading the file in text mode gives: BOM dropped, universal newlines.
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error_cls(path, None, f"not a text file ({exc.reason})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_numeric_table(path: PathLike, ncols: Optional[int] = None, allow_nonfinite: bool = False,
                       error_cls: Type[TableFormatError] = TableFormatError,
                       cache: Optional["AnnotationCache"] = None) -> np.ndarray:
    """Read a numeric text file (see :func:`parse_numeric_table`).

    Args:
        cache: keep the parsed table on disk and reuse it while the file's size and modification
            time are unchanged (see :class:`AnnotationCache`); None reads the file every time.
    """
    if cache is not None:
        return cache.read(path, ncols, allow_nonfinite, error_cls)
    with open(path, "rb") as handle:
        raw = handle.read()
    values = _parse_fast(raw[3:] if raw.startswith(_UTF8_BOM) else raw, ncols)
    if values is not None:
        return values
    return _parse_general(_decode(raw, path, error_cls), ncols, path, allow_nonfinite, error_cls)


def read_numeric_tables(paths: Sequence[PathLike], ncols: Optional[int] = None, allow_nonfinite: bool = False,
                        error_cls: Type[TableFormatError] = TableFormatError,
                        cache: Optional["AnnotationCache"] = None, workers: int = 1) -> List[np.ndarray]:
    """:func:`read_numeric_table` for many files, in order.

    Args:
        workers: threads reading and parsing files (numpy releases the interpreter lock in its
            loops, and reads from slow or network storage overlap); 1 reads in this thread.
    Raises:
        error_cls for the first bad file in ``paths`` order.
    """
    def read(path: PathLike) -> np.ndarray:
        return read_numeric_table(path, ncols, allow_nonfinite, error_cls, cache)

    if workers <= 1 or len(paths) <= 1:
        return [read(p) for p in paths]
    from concurrent.futures import ThreadPoolExecutor  # here: analysis starts faster without it

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(read, paths))


def read_boxes(path: PathLike, allow_nonfinite: bool = False,
               cache: Optional["AnnotationCache"] = None) -> np.ndarray:
    """Read an (N, 4) xywh box file (ground truth); one box per line."""
    return read_numeric_table(path, ncols=4, allow_nonfinite=allow_nonfinite, cache=cache)


def read_flags(path: PathLike, cache: Optional["AnnotationCache"] = None) -> np.ndarray:
    """Read a per-frame label file (one value per line, or all values on one line) as float64."""
    return read_numeric_table(path, ncols=None, allow_nonfinite=True, cache=cache)


_NPY_HEADER = re.compile(rb"\{'descr': '<f8', 'fortran_order': False, 'shape': \((\d+),(?: (\d+))?\), \} *\n")


def _read_npy_float64(blob: bytes) -> Optional[np.ndarray]:
    """A 1-D or 2-D float64 array from the bytes of a ``.npy`` file as ``np.save`` writes it, or None.

    Matching the one header layout ``np.save`` writes takes a regular expression where
    ``np.load`` evaluates the header as a Python literal: a cache hit then costs about as much as
    opening the file. Anything else (another layout, a truncated file) gives None.
    """
    if blob[:8] != b"\x93NUMPY\x01\x00":
        return None
    start = 10 + int.from_bytes(blob[8:10], "little")
    match = _NPY_HEADER.fullmatch(blob, 10, start)
    if match is None:
        return None
    shape = tuple(int(v) for v in match.groups() if v is not None)
    count = shape[0] * (shape[1] if len(shape) == 2 else 1)
    if len(blob) != start + 8 * count:
        return None
    return np.frombuffer(blob, dtype="<f8", offset=start).reshape(shape).copy()


class AnnotationCache:
    """Parsed annotation tables kept on disk as ``.npy`` files, one per source file.

    An entry is named by a hash of the source file's absolute path, its size and its modification
    time (nanoseconds), and of how it was parsed (``ncols``, ``allow_nonfinite``): editing the file
    changes the key, so a stale entry is never read (it stays on disk until the folder is deleted).
    Entries are written to a temporary file and renamed, so a reader sees a whole entry or none;
    an entry that does not load as the expected table (truncated by a crash, edited by hand) is
    ignored and written anew. Files that fail to parse are never cached: they raise every time.

    Caveat: a file edited without changing its size within the modification-time resolution of
    its filesystem (seconds on some) keeps its old key; delete the cache folder after such edits.
    """

    #: Part of every key: bump it when the parsed values of a file could change.
    VERSION = 1

    def __init__(self, folder: PathLike):
        self.folder = os.fspath(folder)

    def entry_path(self, path: PathLike, ncols: Optional[int], allow_nonfinite: bool) -> Optional[str]:
        """The entry for ``path`` as it is now, or None when ``path`` cannot be examined."""
        import hashlib  # here, like tempfile below: analysis without a cache starts faster

        try:
            stat = os.stat(path)
        except OSError:
            return None
        key = (f"{self.VERSION}\0{os.path.abspath(os.fspath(path))}\0{stat.st_size}\0{stat.st_mtime_ns}\0"
               f"{ncols}\0{int(allow_nonfinite)}")
        return os.path.join(self.folder, hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest() + ".npy")

    def _load(self, entry: str, ncols: Optional[int]) -> Optional[np.ndarray]:
        try:
            with open(entry, "rb") as handle:
                blob = handle.read()
        except OSError:
            return None
        values = _read_npy_float64(blob)
        if values is None:
            try:  # not the header np.save writes here (another numpy version?): the full reader
                values = np.load(io.BytesIO(blob), allow_pickle=False)
            except (OSError, ValueError, EOFError):
                return None  # corrupt: parsed again and rewritten
        expected_ndim = 1 if ncols is None else 2
        if (not isinstance(values, np.ndarray) or values.dtype != np.float64 or values.ndim != expected_ndim
                or (ncols is not None and values.shape[1] != ncols)):
            return None
        return values

    def _store(self, entry: str, values: np.ndarray) -> None:
        # Rename for atomicity; no fsync: a lost or torn entry after a crash is only a miss.
        import tempfile

        try:
            os.makedirs(self.folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".entry.", suffix=".tmp", dir=self.folder)
        except OSError:
            return  # read-only or full disk: the cache is an optimisation only
        try:
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, values, allow_pickle=False)
            os.replace(tmp, entry)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def read(self, path: PathLike, ncols: Optional[int], allow_nonfinite: bool = False,
             error_cls: Type[TableFormatError] = TableFormatError) -> np.ndarray:
        """:func:`read_numeric_table` through the cache."""
        entry = self.entry_path(path, ncols, allow_nonfinite)
        if entry is not None:
            values = self._load(entry, ncols)
            if values is not None:
                return values
        values = read_numeric_table(path, ncols, allow_nonfinite, error_cls)
        if entry is not None:
            self._store(entry, values)
        return values


def annotation_cache_from_settings() -> Optional[AnnotationCache]:
    """The cache named by the ``annotation_cache_dir`` setting (``SLT_ANNOTATION_CACHE_DIR``), or
    None when it is empty (the default: see docs/evaluation.md)."""
    from ltr.admin.environment import env_settings

    folder = env_settings(create_local_file=False).annotation_cache_dir
    return AnnotationCache(os.path.expanduser(folder)) if folder else None
