"""Generated blocks of the Markdown docs: a table or text between two HTML-comment markers.

A doc marks a generated block with ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``; the
scripts under ``scripts/`` print the block or, with ``--write``, replace it, so figures in the
docs are always the code's output and never typed by hand.
"""

from __future__ import annotations

from pathlib import Path

from crossmargin.errors import InputError


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of block ``name``."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_block(doc: str | Path, name: str, text: str) -> Path:
    """Replace block ``name`` of ``doc`` by ``text``; InputError if the markers are missing."""
    path = Path(doc)
    start, end = markers(name)
    content = path.read_text(encoding="utf-8")
    if content.count(start) != 1 or content.count(end) != 1:
        raise InputError(f"{path}: needs exactly one {start} and one {end}")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text}\n{end}{tail}", encoding="utf-8")
    return path


def read_block(doc: str | Path, name: str) -> str:
    """The current text of block ``name`` of ``doc``."""
    start, end = markers(name)
    content = Path(doc).read_text(encoding="utf-8")
    if content.count(start) != 1 or content.count(end) != 1:
        raise InputError(f"{doc}: needs exactly one {start} and one {end}")
    return content.split(start, 1)[1].split(end, 1)[0].strip("\n")


__all__ = ["markers", "read_block", "write_block"]
