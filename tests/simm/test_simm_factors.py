"""Netting CRIF lines into risk factors (crossmargin.simm.factors): the integer-code kernel
against its slow twin (a dictionary loop over the lines), bit for bit, and the margin of
the netted factors against the margin of the lines."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_simm_columnar import random_crif

from crossmargin.simm import simm_margin
from crossmargin.simm.crif import crif_from_frame
from crossmargin.simm.factors import FACTOR_COLUMNS, net_factors, net_factors_rowwise


def _same_table(fast: tuple[pd.DataFrame, np.ndarray], slow: tuple[pd.DataFrame, np.ndarray]):
    (fast_frame, fast_usd), (slow_frame, slow_usd) = fast, slow
    assert fast_usd.tobytes() == slow_usd.tobytes()  # the same Kahan steps in the same order
    assert fast_frame["row"].tolist() == slow_frame["row"].tolist()
    for column in FACTOR_COLUMNS:
        assert fast_frame[column].astype(str).tolist() == slow_frame[column].astype(str).tolist()


def _with_parameters(raw: pd.DataFrame) -> pd.DataFrame:
    extra = pd.DataFrame(
        {
            "ProductClass": ["", "", "", ""],
            "RiskType": ["Param_ProductClassMultiplier", "Notional", "Notional", "PV"],
            "Qualifier": ["Equity", "Equity", "Equity", "Equity"],
            "Bucket": "",
            "Label1": "",
            "Label2": "",
            "Amount": [1.5, 1e6, 2e6, 3.0],
            "AmountCurrency": ["", "USD", "USD", "USD"],
            "AmountUSD": [np.nan, 1e6, 2e6, 3.0],
            "collect_regulations": "",
            "post_regulations": "",
        }
    )
    return pd.concat([raw.iloc[:40], extra, raw.iloc[40:]], ignore_index=True)


@pytest.mark.parametrize("seed", [1, 2])
def test_net_factors_equals_rowwise_loop(seed: int) -> None:
    raw = _with_parameters(random_crif(4000, seed=seed, issuers=6))
    crif = crif_from_frame(raw)
    usd = crif.frame["AmountUSD"].fillna(crif.frame["Amount"]).to_numpy()
    fast = net_factors(crif.frame, usd)
    _same_table(fast, net_factors_rowwise(crif.frame, usd))
    frame, amounts = fast
    assert len(frame) < len(crif.frame) * 0.6  # 16 regulation pairs split the factors
    kinds = frame["RiskType"].astype(str)
    assert (kinds == "Notional").sum() == 2  # parameter lines are never netted
    # each factor's amount is the sum of its lines, by an independent groupby (fsum)
    labels = crif.frame[list(FACTOR_COLUMNS)].astype(str)
    exact = (
        pd.Series(usd)
        .groupby([labels[c] for c in FACTOR_COLUMNS], sort=False)
        .agg(lambda s: math.fsum(s))
    )
    sensitivities = frame[~kinds.isin(["Notional", "PV", "Param_ProductClassMultiplier"])]
    keys = list(zip(*(sensitivities[c].astype(str) for c in FACTOR_COLUMNS), strict=True))
    assert np.allclose(amounts[sensitivities.index], exact.loc[keys].to_numpy(), rtol=1e-12)
    # and bit for bit the pandas groupby sum over the lines that the engine used before
    grouped = pd.Series(usd).groupby([labels[c] for c in FACTOR_COLUMNS], sort=False).sum()
    assert amounts[sensitivities.index].tobytes() == grouped.loc[keys].to_numpy().tobytes()


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=300),
    seed=st.integers(min_value=0, max_value=2**31),
    issuers=st.integers(min_value=1, max_value=9),
    categorical=st.booleans(),
)
def test_net_factors_twin_on_random_crifs(
    n: int, seed: int, issuers: int, categorical: bool
) -> None:
    raw = random_crif(n, seed=seed, issuers=issuers)
    rng = np.random.default_rng(seed)
    raw["AmountUSD"] = raw["Amount"] * rng.uniform(0.5, 2.0, size=n)  # not cent-rounded
    raw["AmountCurrency"] = "EUR"
    if categorical:
        raw = raw.astype(dict.fromkeys(["Qualifier", "Label1", "RiskType"], "category"))
    frame = crif_from_frame(raw).frame
    usd = frame["AmountUSD"].to_numpy()
    _same_table(net_factors(frame, usd), net_factors_rowwise(frame, usd))


def test_margin_of_netted_factors_is_margin_of_lines() -> None:
    """Splitting every line in three (a property: SIMM sees net sensitivities only)."""
    raw = random_crif(2000, seed=5, issuers=8)
    parts = [raw.assign(Amount=raw["Amount"] * w, AmountUSD=raw["AmountUSD"] * w)
             for w in (0.25, 0.5, 0.25)]  # fmt: skip
    split = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=3)
    whole = simm_margin(raw, version="2.6", include_post=True)
    pieces = simm_margin(split.reset_index(drop=True), version="2.6", include_post=True)
    assert pieces.total == pytest.approx(whole.total, rel=1e-12)
    assert whole.post is not None
    assert pieces.post is not None
    assert pieces.post.total == pytest.approx(whole.post.total, rel=1e-12)


def _net_table_rowwise(frame: pd.DataFrame, keys: list[str]) -> dict[tuple[str, ...], float]:
    """Sums per key combination by a loop over the lines, in line order."""
    net: dict[tuple[str, ...], float] = {}
    columns = [frame[k].astype(str).tolist() for k in keys]
    for i, amount in enumerate(frame["amount"].tolist()):
        key = tuple(c[i] for c in columns)
        net[key] = net.get(key, 0.0) + amount
    return net


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=400),
    seed=st.integers(min_value=0, max_value=2**31),
    categorical=st.booleans(),
)
def test_net_table_twin(n: int, seed: int, categorical: bool) -> None:
    """delta.net_table (integer keys, bincount) against a dictionary loop: the same sums bit
    for bit, in sorted key order (what the groupby it replaced gave)."""
    from crossmargin.simm.delta import AMOUNT, net_table, runs
    from crossmargin.simm.distinct import categorical as as_categorical

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "Bucket": rng.choice(["1", "2", "10", "Residual", ""], size=n),
            "Qualifier": rng.choice(["EQ1", "EQ10", "EQ2", "a", "B"], size=n),
            "Label1": rng.choice(["1y", "10y", "2w", ""], size=n),
            AMOUNT: rng.normal(scale=1e6, size=n) * rng.choice([1.0, 1e-9, 1e9], size=n),
        }
    )
    keys = ["Bucket", "Qualifier", "Label1"]
    if categorical:
        frame = frame.assign(**{k: as_categorical(frame[k]) for k in keys})
    table = net_table(frame, keys)
    slow = _net_table_rowwise(frame, keys)
    expected = sorted(slow)
    assert list(zip(*(table[k].tolist() for k in keys), strict=True)) == expected
    assert table[AMOUNT].tobytes() == np.array([slow[k] for k in expected]).tobytes()
    buckets = [b for b, _ in runs(table["Bucket"])]
    assert buckets == sorted(set(frame["Bucket"].astype(str)))
