"""Print the docs/sample-book.md table: isolated vs cross margin per account and model.

Usage: ``python scripts/sample_book_table.py [--asof DATE] [--data DIR]`` (default: the
latest date the history covers for the sample book's underlyings).
"""

from __future__ import annotations

import argparse

from crossmargin import api
from crossmargin.analysis.compare import compare_models, markdown_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asof", default=None)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    book = api.sample_book()
    market = api.market_for(book, asof=args.asof, data_dir=args.data)
    print(f"Market: {market.source}\n")
    print(markdown_table(compare_models(book, market), market.reporting_currency))


if __name__ == "__main__":
    main()
