"""Reading user files and writing outputs without losing, guessing or hanging.

Every file crossmargin reads from a user goes through :func:`input_file` and
:func:`read_text` (or :func:`load_json`), so that each operating-system problem is one
:class:`~crossmargin.errors.InputError` line naming the file:

==============================  ==========================================================
problem                         message
==============================  ==========================================================
missing                         ``book file x.csv not found``
a directory                     ``book file out/ is a directory, not a file``
a FIFO, socket or device        ``... is not a regular file (a FIFO, socket or device)``:
                                refused before it is opened, so a FIFO never hangs a run
permission denied               ``cannot read book file x.csv: Permission denied``
binary (a NUL byte)             ``book file x.json is binary, not text``
not UTF-8                       ``book file x.csv is not UTF-8 text (byte 0xd4 at ...)``
==============================  ==========================================================

JSON is strict (:func:`load_json`): a key given twice in one object, ``NaN`` or
``Infinity`` (not JSON) and nesting too deep for the decoder are errors naming the file and
the key.

Outputs are written atomically (:func:`atomic_output`, :func:`write_text`): to a temporary
file beside the target, then renamed over it, so a full disk or a killed process leaves the
old file (or none), never a 0-byte or half-written one; the OS error (``No space left on
device``) is one line naming the target.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crossmargin.errors import InputError

_SHOWN = 60  # characters of a bad value echoed in a message


def shown(value: object) -> str:
    """``repr(value)`` cut to a readable length (a 1 MB cell is not echoed in full)."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def input_file(path: str | os.PathLike[str], *, what: str = "input") -> Path:
    """``path`` as a :class:`Path` once it is known to name a regular file.

    Raises
    ------
    InputError
        Not found, a directory, a FIFO/socket/device, or not accessible.
    """
    p = Path(path)
    try:
        info = p.stat()
    except FileNotFoundError:
        raise InputError(f"{what} file {p} not found") from None
    except OSError as error:
        raise InputError(f"cannot read {what} file {p}: {error.strerror or error}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{what} file {p} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"{what} file {p} is not a regular file (a FIFO, socket or device): give a file"
        )
    return p


def read_bytes(path: str | os.PathLike[str], *, what: str = "input") -> bytes:
    """The content of a regular file (see :func:`input_file`)."""
    p = input_file(path, what=what)
    try:
        return p.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {what} file {p}: {error.strerror or error}") from None


def decode_text(data: bytes, path: str | os.PathLike[str], *, what: str = "input") -> str:
    """UTF-8 text of ``data`` (a byte-order mark is dropped); binary and other encodings are
    InputErrors naming the file and the first bad byte."""
    if b"\x00" in data[:65536]:
        raise InputError(f"{what} file {path} is binary, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as bad:
        line = data[: bad.start].count(b"\n") + 1
        byte = data[bad.start : bad.start + 1].hex()
        raise InputError(
            f"{what} file {path} is not UTF-8 text (byte 0x{byte} on line {line}); save it as UTF-8"
        ) from None


def read_text(path: str | os.PathLike[str], *, what: str = "input") -> str:
    """The UTF-8 text of a regular file; every OS or encoding problem is one InputError."""
    return decode_text(read_bytes(path, what=what), path, what=what)


class _DuplicateKey(Exception):
    def __init__(self, key: str, first: Any, second: Any) -> None:
        super().__init__(key)
        self.key, self.first, self.second = key, first, second


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key, out[key], value)
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str, source: str | os.PathLike[str], *, what: str = "input") -> Any:
    """Strict JSON of ``text`` (see the module docstring); errors name ``source``."""
    label = f"{what} file {source}"
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except _DuplicateKey as dup:
        raise InputError(
            f"{label}: key {dup.key!r} given twice in one object (values {shown(dup.first)} "
            f"and {shown(dup.second)})"
        ) from None
    except json.JSONDecodeError as bad:
        raise InputError(
            f"{label}: not valid JSON (line {bad.lineno}, column {bad.colno}: {bad.msg})"
        ) from None
    except ValueError as bad:  # NaN / Infinity
        raise InputError(f"{label}: {bad}") from None
    except RecursionError:  # the decoder's own guard against deep nesting
        raise InputError(f"{label}: JSON nested too deeply to be a {what} file") from None


def load_json(path: str | os.PathLike[str], *, what: str = "input") -> Any:
    """The strict JSON content of a file (:func:`read_text`, :func:`parse_json`)."""
    return parse_json(read_text(path, what=what), path, what=what)


# ----------------------------------------------------------------------------- CSV
_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "pipes"}


def csv_frame(
    text: str, source: str | os.PathLike[str], *, sep: str = ",", what: str = "input"
) -> tuple[Any, list[int]]:
    """A CSV text as a DataFrame of strings and each row's first line number (header = 1).

    Refused, each with one line naming the file and the line: a header using another
    delimiter (``account;symbol;quantity``: the delimiter is named), a column named twice, a
    quoted field that never closes, and a quoted field running over several lines (an
    unbalanced quote that would swallow the rows between: rows are never lost). Blank lines
    are kept as rows of empty strings (the caller skips them) so numbers match the file.
    """
    import pandas as pd

    label = f"{what} file {source}"
    first = text.split("\n", 1)[0].rstrip("\r")
    names = [n.strip() for n in split_header(first, sep)]
    if len(names) == 1:
        for other, plural in _OTHER_DELIMITERS.items():
            if other != sep and other in first:
                wanted = "commas" if sep == "," else _OTHER_DELIMITERS.get(sep, repr(sep))
                raise InputError(
                    f"{label}: the header is separated by {plural}, not {wanted} "
                    f"({shown(first)}); save the file as comma-separated CSV"
                )
    seen: set[str] = set()
    for name in names:
        if name in seen and name:
            raise InputError(f"{label}, line 1: column {name!r} given twice in the header")
        seen.add(name)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            skip_blank_lines=False,
        )
    except pd.errors.EmptyDataError:
        raise InputError(f"{label} is empty (expected a header row)") from None
    except pd.errors.ParserError as bad:
        message = str(bad).removeprefix("Error tokenizing data. C error: ").strip()
        opened = re.search(r"EOF inside string starting at row (\d+)", message)
        if opened:
            raise InputError(
                f"{label}, line {int(opened.group(1)) + 1}: a quoted field opens and never "
                'closes (an unbalanced ")'
            ) from None
        raise InputError(f"{label}: cannot parse as CSV ({message})") from None
    lines = list(range(2, len(frame) + 2))
    if '"' in text and len(frame):
        spans = frame.apply(lambda col: col.str.count("\n")).to_numpy()
        extra = spans.sum(axis=1)
        if extra.any():
            row = int(extra.nonzero()[0][0])
            start = 2 + row + int(extra[:row].sum())
            column = str(frame.columns[int(spans[row].nonzero()[0][0])])
            raise InputError(
                f"{label}, line {start}: the quoted field of column {column!r} runs over "
                f"{int(extra[row]) + 1} lines (to line {start + int(extra[row])}): an "
                'unbalanced "? nothing loaded'
            )
    return frame, lines


def split_header(line: str, sep: str) -> list[str]:
    """The header's names (quotes honoured, no field-size limit)."""
    out: list[str] = []
    field: list[str] = []
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            out.append("".join(field))
            field = []
        else:
            field.append(ch)
    out.append("".join(field))
    return out


# ----------------------------------------------------------------------------- outputs
def _write_error(target: Path, error: OSError, what: str) -> InputError:
    return InputError(f"cannot write {what} {target}: {error.strerror or error}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, what: str = "output") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed over ``path``.

    On any failure the temporary file is removed and ``path`` is left as it was; an OS error
    (a directory in the way, permission, a full disk) becomes one InputError naming ``path``.
    Folders are created as needed.
    """
    target = Path(path)
    if target.is_dir():
        raise InputError(f"cannot write {what} {target}: it is a directory; give a file name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(handle)
        os.chmod(name, 0o666 & ~_umask())  # the mode a plain open() would give
    except OSError as error:
        raise _write_error(target, error, what) from None
    temp = Path(name)
    try:
        yield temp
        os.replace(temp, target)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise _write_error(target, error, what) from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike[str], text: str, *, what: str = "output") -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_output`)."""
    target = Path(path)
    with (
        atomic_output(target, what=what) as temp,
        open(temp, "w", encoding="utf-8", newline="") as handle,
    ):
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return target


__all__ = [
    "atomic_output",
    "decode_text",
    "input_file",
    "load_json",
    "parse_json",
    "read_bytes",
    "read_text",
    "shown",
    "split_header",
    "write_text",
]
