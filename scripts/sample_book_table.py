"""Print the docs/sample-book.md table: isolated vs cross margin per account and model.

Usage: ``python scripts/sample_book_table.py [--asof DATE] [--data DIR] [--write]`` (default:
the latest date the history covers for the sample book's underlyings); ``--write`` replaces the
table in docs/sample-book.md (between the ``sample-book-table`` markers).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crossmargin import api
from crossmargin.analysis.compare import compare_models, markdown_table
from crossmargin.report.docs import write_block

DOC = Path(__file__).resolve().parents[1] / "docs" / "sample-book.md"
BLOCK = "sample-book-table"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asof", default=None)
    parser.add_argument("--data", default=None)
    parser.add_argument("--write", action="store_true", help="replace the table in the doc")
    args = parser.parse_args()
    book = api.sample_book()
    market = api.market_for(book, asof=args.asof, data_dir=args.data)
    text = f"Market: {market.source}\n\n" + markdown_table(
        compare_models(book, market), market.reporting_currency
    )
    if args.write:
        write_block(DOC, BLOCK, text)
        print(f"wrote {DOC}")
    else:
        print(text)


if __name__ == "__main__":
    main()
