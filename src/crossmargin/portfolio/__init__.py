"""Books of positions: Position, Account, Portfolio and their file formats."""

from __future__ import annotations

from crossmargin.portfolio.book import Account, Portfolio, Position
from crossmargin.portfolio.io import (
    book_records,
    load_portfolio,
    parse_rows,
    portfolio_records,
    save_portfolio,
)

__all__ = [
    "Account",
    "Portfolio",
    "Position",
    "book_records",
    "load_portfolio",
    "parse_rows",
    "portfolio_records",
    "save_portfolio",
]
