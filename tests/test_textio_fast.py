"""The fast numeric-table readers against the general parser, on randomised files.

Every accepted file must give bit-identical arrays (shape, values, signs of zero, NaN), and
every rejected one the same error type and message (file and line), whichever path parses it.
"""
from __future__ import annotations

import os
import random

import numpy as np
import pytest

from pytracking.analysis import textio
from pytracking.analysis.results_io import ResultFileError
from pytracking.analysis.textio import AnnotationCache, TableFormatError, read_numeric_table, read_numeric_tables


def general_read(path, ncols, allow_nonfinite, error_cls=TableFormatError):
    """The reader as it was before the fast paths: text mode, then the general parser."""
    try:
        with open(path, "r", encoding="utf-8-sig") as handle:
            text = handle.read()
    except UnicodeDecodeError as exc:
        raise error_cls(path, None, f"not a text file ({exc.reason})") from None
    return textio._parse_general(text, ncols, path, allow_nonfinite, error_cls)


def outcome(fn):
    try:
        values = fn()
    except TableFormatError as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("ok", values.shape, values.dtype.str, values.tobytes())


def _token(rng: random.Random, style: str) -> str:
    if style == "int":
        return "-0" if rng.random() < 0.01 else str(rng.randint(-3000, 3000))
    if style == "fixed4":
        return rng.choice(["-0.0000", "-.0000", "-00.0000"]) if rng.random() < 0.01 else f"{rng.uniform(-2000, 2000):.4f}"
    kind = rng.random()
    if kind < 0.2:
        return str(rng.randint(-10 ** rng.randint(1, 20), 10 ** rng.randint(1, 20)))
    if kind < 0.45:
        return f"{rng.uniform(-1e4, 1e4):.{rng.randint(0, 9)}f}"
    if kind < 0.55:
        return repr(rng.uniform(-1e3, 1e3))  # up to 17 significant digits
    if kind < 0.62:
        return f"{rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30):{rng.choice(['e', 'E', '.3e', '.18e'])}}"
    if kind < 0.72:
        return rng.choice(["-0", "-0.0", "-.000", "+0", "0.", "-5.", ".5", "-.25", "+3", "+.5", "007",
                           "-0000.0000", "1234567890123456", "9" * 25, "-" + "9" * 19])
    if kind < 0.76:
        return rng.choice(["nan", "NaN", "inf", "-inf", "Infinity"])
    if kind < 0.78:
        return rng.choice(["x", "1.2.3", "1-2", "-", "+", ".", "--1", "1e", "0x10", "1_000", "١"])
    return str(rng.randint(0, 500))


def random_file(rng: random.Random, ncols) -> str:
    style = rng.choice(["int", "fixed4", "mixed", "mixed"])
    rows = rng.randint(1, 40)
    sep = rng.choice([",", "\t", " ", ", ", ";", "  ", " ,", "\t "])
    lines = []
    for _ in range(rows):
        width = ncols if ncols is not None else rng.randint(1, 6)
        if ncols is not None and rng.random() < 0.03:
            width += rng.choice([-1, 1])  # ragged row
        line = sep.join(_token(rng, style) for _ in range(max(width, 0)))
        if rng.random() < 0.1:
            line = rng.choice([" ", "\t", ",", sep]) + line  # leading separator
        if rng.random() < 0.2:
            line += rng.choice([",", " ", "\t", sep, ", "])  # trailing separator
        lines.append(line)
    if rng.random() < 0.03:
        lines.insert(rng.randrange(len(lines)), rng.choice(["", "  ", ",,"]))  # blank line inside
    text = rng.choice(["\n", "\n", "\r\n", "\r"]).join(lines)
    text += rng.choice(["", "\n", "\n\n", "  \n", " \r\n", "\n\t\n", ",", "\n,\n"])
    if rng.random() < 0.05:
        text = "\ufeff" + text
    return text


@pytest.mark.parametrize("ncols", [4, None, 1])
def test_fast_reader_matches_general_parser_on_random_files(tmp_path, ncols):
    rng = random.Random(1234 if ncols is None else 4321 + ncols)
    paths = {"fast": 0, "general": 0}
    for i in range(400):
        text = random_file(rng, ncols)
        path = tmp_path / f"f{i}.txt"
        path.write_bytes(text.encode("utf-8"))
        allow = rng.random() < 0.5
        expected = outcome(lambda: general_read(path, ncols, allow))
        assert outcome(lambda: read_numeric_table(path, ncols, allow)) == expected, text
        assert outcome(lambda: textio.parse_numeric_table(text.lstrip("\ufeff").replace("\r\n", "\n")
                                                          .replace("\r", "\n"), ncols, path, allow)) == expected
        raw = text.encode("utf-8")
        fast = textio._parse_fast(raw[3:] if raw.startswith(textio._UTF8_BOM) else raw, ncols)
        paths["fast" if fast is not None else "general"] += 1
    # Both paths were exercised (the generator makes plain files and awkward ones).
    assert paths["fast"] > 80 and paths["general"] > 80, paths


def test_fast_paths_cover_the_common_layouts():
    rng = np.random.default_rng(0)
    boxes = np.round(rng.uniform(-50, 900, (300, 4)), 4)
    boxes[5] = [-0.0, 0.0, 0.0, -0.0]
    layouts = {
        "ints, comma": "\n".join(",".join(str(int(v)) for v in row) for row in boxes) + "\n",
        "%.4f, comma": "\n".join(",".join(f"{v:.4f}" for v in row) for row in boxes) + "\n",
        "%.2f, tab, CRLF": "\r\n".join("\t".join(f"{v:.2f}" for v in row) for row in boxes) + "\r\n",
        "mixed decimals, ', '": "\n".join(", ".join(f"{v:.{i % 5}f}" for i, v in enumerate(row)) for row in boxes),
    }
    for name, text in layouts.items():
        fast = textio._parse_fast(text.encode(), 4)
        assert fast is not None, name
        general = textio._parse_general(text.replace("\r\n", "\n"), 4, "x", False, TableFormatError)
        assert fast.tobytes() == general.tobytes(), name
    # Negative zeros keep their sign (float("-0.0000") is -0.0).
    fast = textio._parse_fast(layouts["%.4f, comma"].encode(), 4)
    assert np.signbit(fast[5]).tolist() == [True, False, False, True]
    flags = ",".join(str(v) for v in rng.integers(0, 2, 2500))
    assert textio._parse_fast(flags.encode(), None).tolist() == [float(v) for v in flags.split(",")]


def test_errors_name_file_and_line_on_both_paths(tmp_path):
    cases = {
        "1,2,3,4\n1,2,x,4\n": "line 2: cannot parse 'x'",
        "1,2,3,4\n1,2,4\n": "line 2: expected 4 numbers, found 3",
        "1,2,3,4\n\n1,2,3,4\n": "line 2: empty line inside the file",
        "1.5,2,3,4\n1,2,nan,4\n": "line 2: NaN or infinite value",
        "1,2,3,4\n1,2,3-4,4\n": "line 2: cannot parse '3-4'",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.txt"
        path.write_text(text)
        with pytest.raises(ResultFileError) as info:
            read_numeric_table(path, ncols=4, error_cls=ResultFileError)
        assert str(info.value) == f"{path}, {message}" or str(info.value).startswith(f"{path}, {message}")
    path = tmp_path / "binary.txt"
    path.write_bytes(b"1,2,3,4\n\xff\xfe\n")
    with pytest.raises(TableFormatError, match="not a text file"):
        read_numeric_table(path, ncols=4)


def test_many_files_on_a_thread_pool_keep_order_and_report_the_first_bad_file(tmp_path):
    paths = []
    for i in range(12):
        path = tmp_path / f"{i}.txt"
        path.write_text("\n".join(f"{i},{j},1,1" for j in range(i + 1)) + "\n")
        paths.append(path)
    tables = read_numeric_tables(paths, ncols=4, workers=4)
    assert [t.shape for t in tables] == [(i + 1, 4) for i in range(12)]
    assert all(t[0, 0] == i for i, t in enumerate(tables))
    paths[7].write_text("1,2\n")
    paths[9].write_text("x\n")
    with pytest.raises(TableFormatError, match="7.txt, line 1"):
        read_numeric_tables(paths, ncols=4, workers=4)


def test_annotation_cache_hits_misses_and_rewrites_corrupt_entries(tmp_path):
    cache = AnnotationCache(tmp_path / "cache")
    path = tmp_path / "groundtruth.txt"
    path.write_text("1,2,3,4\n5,6,7,8\n")
    first = cache.read(path, 4)
    entry = cache.entry_path(path, 4, False)
    assert os.path.isfile(entry) and np.load(entry).tolist() == first.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert not [n for n in os.listdir(tmp_path / "cache") if n.endswith(".tmp")]

    # A hit reads the entry, not the file (seen by planting a different table in the entry).
    np.save(entry, np.array([[9.0, 9, 9, 9]]))
    assert cache.read(path, 4).tolist() == [[9, 9, 9, 9]]

    # Editing the file changes its size or mtime, hence the key: the new content is read.
    path.write_text("1,2,3,4\n5,6,7,8\n0,0,1,1\n")
    os.utime(path, ns=(1, 1_000_000_000))
    assert cache.read(path, 4).tolist() == [[1, 2, 3, 4], [5, 6, 7, 8], [0, 0, 1, 1]]
    new_entry = cache.entry_path(path, 4, False)
    assert new_entry != entry

    # A corrupt entry (truncated, garbage, wrong shape) is ignored and rewritten.
    for corrupt in (b"", b"\x93NUMPY garbage", None):
        if corrupt is None:
            np.save(new_entry, np.zeros((2, 3)))
        else:
            with open(new_entry, "wb") as handle:
                handle.write(corrupt)
        assert cache.read(path, 4).tolist() == [[1, 2, 3, 4], [5, 6, 7, 8], [0, 0, 1, 1]]
        assert np.load(new_entry).shape == (3, 4)

    # The same file read with other options is another entry; bad files are never cached.
    assert cache.entry_path(path, None, True) != new_entry
    path.write_text("1,2,x,4\n")
    for _ in range(2):
        with pytest.raises(TableFormatError, match="line 1: cannot parse 'x'"):
            cache.read(path, 4)


def test_annotation_cache_setting_reaches_the_dataset_readers(tmp_path, monkeypatch):
    from pytracking.evaluation.datasets import get_dataset
    from tests.test_eval_datasets import write_lasot_layout

    gt = np.array([[10, 10, 20, 20]] * 5, float)
    write_lasot_layout(tmp_path / "lasot", "airplane-1", gt, [0, 0, 1, 0, 0], [0] * 5)
    monkeypatch.setenv("SLT_ANNOTATION_CACHE_DIR", str(tmp_path / "cache"))
    seq = get_dataset("lasot", str(tmp_path / "lasot"), sequences=["airplane-1"])[0]
    assert seq.target_visible.tolist() == [True, True, False, True, True]
    assert len([n for n in os.listdir(tmp_path / "cache") if n.endswith(".npy")]) == 3
    again = get_dataset("lasot", str(tmp_path / "lasot"), sequences=["airplane-1"])[0]
    assert again.ground_truth_rect.tolist() == seq.ground_truth_rect.tolist()
    monkeypatch.delenv("SLT_ANNOTATION_CACHE_DIR")
    assert textio.annotation_cache_from_settings() is None


@pytest.mark.parametrize("bad", ["3-1.50", "--1.50", "+-1.50", "1.5-0", "1.+5", "1..5", "-.-5", "1-.50", ".-50",
                                 "3-1", "--1", "+", "-", "1+", "-+1", "1.5e", "12.345", "1.", "-.50", "+.50", "-0.00",
                                 "00.50", "1234567890123.50", "12345678901234.50"])
def test_one_near_miss_number_in_an_otherwise_plain_file(tmp_path, bad):
    # Rows of 2-decimal numbers with one changed number: each fast path either reads the file
    # with the general parser's values or leaves it to the general parser (and its error).
    for template in ("{:.2f}", "{:d}"):
        rows = [[template.format(v if "f" in template else int(v)) for v in (1.25 + i, 2.5, 3.75 + i, 4.0)]
                for i in range(6)]
        for position in [(0, 0), (4, 2)]:
            cells = [row[:] for row in rows]
            cells[position[0]][position[1]] = bad
            text = "\n".join(",".join(row) for row in cells) + "\n"
            path = tmp_path / "f.txt"
            path.write_text(text)
            for ncols in (4, None):
                expected = outcome(lambda: general_read(path, ncols, False))
                assert outcome(lambda: read_numeric_table(path, ncols, False)) == expected, (text, ncols)
