"""A margin result reports the parameters that margined its book.

``pm_grid``'s parameter file holds grids for 15 underlyings (29 KB of JSON); a result reports
the grids of its own book's underlyings (``MarginModel.parameters_for``), whatever context a
cache serves it from, and every other parameter as ``parameters()`` has it. ``span`` likewise
reports its book's CC entries and the inter spreads whose legs the book holds. Beside the
model's parameters every result names the haircut schedule its equity used
(``haircut_schedule``: the shipped file here, its version and the digest of its figures).
"""

from __future__ import annotations

from crossmargin import api
from crossmargin.collateral.haircuts import load_haircuts
from crossmargin.models import get_model
from crossmargin.models.cache import CachedModel, ContextCache
from crossmargin.netting.core import tier_layout
from market_inputs import history, sample_market


def _shipped_schedule() -> dict[str, str]:
    """The shipped haircut schedule's identity, written out from the schedule's fields."""
    shipped = load_haircuts(None)
    assert shipped.path == "crossmargin/data/haircuts.json"
    return {"file": shipped.path, "version": shipped.version, "sha256": shipped.sha256}


def _underlyings(book: object) -> set[str]:
    return {i.underlying for i in tier_layout(book).instruments}  # type: ignore[arg-type]


def test_pm_grid_reports_the_grids_of_its_book_alone() -> None:
    model = get_model("pm_grid")
    whole = model.parameters()
    book = api.sample_book().subset(["alpha-crypto"])
    got = model.compute(book, sample_market()).parameters
    assert set(got["underlyings"]) == _underlyings(book) == {"BTC", "ETH"}
    assert got["underlyings"] == {u: whole["underlyings"][u] for u in ("BTC", "ETH")}
    assert {k: v for k, v in got.items() if k != "underlyings"} == {
        **{k: v for k, v in whole.items() if k != "underlyings"},
        "haircut_schedule": _shipped_schedule(),
    }
    assert len(whole["underlyings"]) > 2


def test_a_cached_superset_context_reports_the_book_alone() -> None:
    """The context a cache serves may cover more underlyings than the book: the reported
    parameters follow the book, so they do not depend on what was margined before."""
    model = get_model("pm_grid")
    market = sample_market()
    cached = CachedModel(model, ContextCache(), model_key="pm_grid", market_key="m")
    everything = api.sample_book()
    cached.compute(everything, market)  # a context on every underlying of the sample book
    crypto = everything.subset(["alpha-crypto"])
    got = cached.compute(crypto, market).parameters
    assert got == model.compute(crypto, market).parameters
    assert set(got["underlyings"]) == {"BTC", "ETH"}
    wide = cached.compute(everything, market).parameters
    assert set(wide["underlyings"]) == _underlyings(everything) & set(
        model.parameters()["underlyings"]
    )


def test_other_models_and_both_parts_of_conservative() -> None:
    book = api.sample_book().subset(["alpha-crypto"])
    market = sample_market()
    es = get_model("es", history=history())
    assert es.compute(book, market).parameters == {
        **es.parameters(),
        "haircut_schedule": _shipped_schedule(),
    }
    both = get_model("conservative", first=get_model("pm_grid"), second=es)
    got = both.compute(book, market).parameters
    assert set(got) == {"pm_grid", "es", "haircut_schedule"}
    assert set(got["pm_grid"]["underlyings"]) == {"BTC", "ETH"}
    assert got["es"] == es.parameters()
    assert got["haircut_schedule"] == _shipped_schedule()


def test_span_reports_its_books_ccs_and_the_spreads_that_can_form() -> None:
    model = get_model("span")
    whole = model.parameters()
    market = sample_market()
    crypto = api.sample_book().subset(["alpha-crypto"])
    got = model.compute(crypto, market).parameters
    assert got["underlyings"] == {u: whole["underlyings"][u] for u in ("BTC", "ETH")}
    assert got["inter_spreads"] == [
        s for s in whole["inter_spreads"] if s["legs"] == ["BTC", "ETH"]
    ]
    assert len(got["inter_spreads"]) == 1
    rest = ("underlyings", "inter_spreads")
    assert {k: v for k, v in got.items() if k not in rest} == {
        **{k: v for k, v in whole.items() if k not in rest},
        "haircut_schedule": _shipped_schedule(),
    }
    every = api.sample_book()
    wide = model.compute(every, market).parameters
    held = _underlyings(every)
    assert set(wide["underlyings"]) == held & set(whole["underlyings"])
    assert wide["inter_spreads"] == [s for s in whole["inter_spreads"] if set(s["legs"]) <= held]
    assert len(whole["underlyings"]) > len(wide["underlyings"])
