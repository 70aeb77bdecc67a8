"""Generated doc blocks: replaced between their markers, nothing else touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossmargin.errors import InputError
from crossmargin.report.docs import read_block, write_block


def test_block_is_replaced_between_its_markers(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("intro\n<!-- t:start -->\nold\n<!-- t:end -->\noutro\n", encoding="utf-8")
    write_block(doc, "t", "| a |\n|---|")
    assert doc.read_text(encoding="utf-8") == (
        "intro\n<!-- t:start -->\n| a |\n|---|\n<!-- t:end -->\noutro\n"
    )
    assert read_block(doc, "t") == "| a |\n|---|"


def test_missing_or_repeated_markers_are_errors(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(InputError, match="needs exactly one <!-- t:start -->"):
        write_block(doc, "t", "x")
    doc.write_text("<!-- t:start --><!-- t:end --><!-- t:start -->", encoding="utf-8")
    with pytest.raises(InputError, match="exactly one"):
        read_block(doc, "t")
