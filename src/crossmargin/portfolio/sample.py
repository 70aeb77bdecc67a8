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

Collateral (``sample_collateral.csv``): alpha posts BTC, ETH and USDC at Deribit (its BTC and
ETH back the inverse contracts settled in them); beta USD at CME and OCC; gamma USDC at
Deribit and USD at CME; delta USD at CME, BTC and USDe at Deribit (the USDe is what a
depeg stress hits).

Expiries are in 2026 (the shared history ends in 2026); ``crossmargin sample --out FILE``
writes it as a template to edit.
"""

from __future__ import annotations

from importlib import resources

from crossmargin.portfolio.book import Portfolio
from crossmargin.portfolio.io import load_portfolio

SAMPLE_NAME = "sample_book.csv"
SAMPLE_COLLATERAL = "sample_collateral.csv"


def sample_portfolio(*, collateral: bool = True) -> Portfolio:
    """Load the shipped sample book, with its accounts' collateral unless ``collateral`` is
    False."""
    data = resources.files("crossmargin").joinpath("data")
    with resources.as_file(data.joinpath(SAMPLE_NAME)) as path:
        if not collateral:
            return load_portfolio(path)
        with resources.as_file(data.joinpath(SAMPLE_COLLATERAL)) as held:
            return load_portfolio(path, collateral=held)
