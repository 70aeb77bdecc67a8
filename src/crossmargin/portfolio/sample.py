"""The sample book shipped with the package: four accounts with offsetting pairs.

=============  ====================================================================
account        what it holds
=============  ====================================================================
alpha-crypto   long BTC Mar future vs short BTC Mar calls (covered write, inverse);
               short BTC Jun future (a calendar spread); ETH puts and ETH perpetual
beta-macro     short ES puts vs long SPY puts (the same index risk on two venues);
               short ES future vs long SPY shares
gamma-xasset   long BTC linear perpetual vs short ES future (crypto vs equity index);
               long BTC linear puts; short SPY calls
delta-mixed    CME Micro Bitcoin vs Deribit BTC perpetual; ETH linear perpetual; QQQ calls
=============  ====================================================================

Expiries are in 2026 (the shared history ends in 2026); ``crossmargin sample --out FILE``
writes it as a template to edit.
"""

from __future__ import annotations

from importlib import resources

from crossmargin.portfolio.book import Portfolio
from crossmargin.portfolio.io import load_portfolio

SAMPLE_NAME = "sample_book.csv"


def sample_portfolio() -> Portfolio:
    """Load the shipped sample book."""
    with resources.as_file(resources.files("crossmargin").joinpath("data", SAMPLE_NAME)) as path:
        return load_portfolio(path)
