"""The price table against genai_prices.calc_price (the oracle), overrides and unknown models."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

genai_prices = pytest.importorskip("genai_prices", reason="genai-prices needs Python 3.11+")
from genai_prices import Usage, calc_price  # noqa: E402
from genai_prices.data import providers as DATA  # noqa: E402
from genai_prices.types import ConditionalPrice, StartDateConstraint, TieredPrices  # noqa: E402

from llm_observatory.pricing import PriceOverride, PriceTable, PricingConfigError, parse_overrides  # noqa: E402
from llm_observatory.pricing._table import EXTRA_UNITS, PROVIDER_IDS  # noqa: E402

OURS = {"openai": "openai", "anthropic": "anthropic", "google": "gcp.gemini", "mistral": "mistral_ai",
        "aws": "aws.bedrock"}
NOW = datetime.now(timezone.utc)


def _models(provider_id: str, limit: int) -> list[str]:
    provider = next(p for p in DATA if p.id == provider_id)
    return sorted(m.id for m in provider.models)[:limit]


MATRIX = [(ours, pid, model) for pid, ours in OURS.items() for model in _models(pid, 12)]


def _oracle(model: str, pid: str, usage: dict[str, int], at: datetime | None = None) -> Decimal | None:
    try:
        return calc_price(Usage(**{k: v for k, v in usage.items() if v}), model, provider_id=pid,
                          genai_request_timestamp=at).total_price
    except (LookupError, ValueError):
        return None


USAGES = [
    {"input_tokens": 1200, "output_tokens": 350},
    {"input_tokens": 5000, "output_tokens": 800, "cache_read_tokens": 3000, "cache_write_tokens": 1000},
    {"input_tokens": 40, "output_tokens": 9000},  # a reasoning-heavy answer: reasoning counts as output
    {"input_tokens": 0, "output_tokens": 0},
]


def test_matrix_is_broad_enough() -> None:
    assert len(MATRIX) >= 40
    assert {ours for ours, _, _ in MATRIX} == set(OURS.values())


def _agrees(table: PriceTable, provider: str, pid: str, model: str, usage: dict[str, int]) -> bool:
    """Our price of ``usage`` (genai-prices usage keys) equals the oracle's, or both have none;
    ``True`` when there was a price to compare."""
    expected = _oracle(model, pid, usage)
    got = table.cost(provider, model, usage["input_tokens"], usage["output_tokens"],
                     usage.get("cache_read_tokens", 0), usage.get("cache_write_tokens", 0),
                     extra={k: v for k, v in usage.items() if k in EXTRA_UNITS} or None)
    if expected is None:
        assert got is None, (model, usage)
        return False
    assert got is not None, (model, usage)
    assert abs(got.total - float(expected)) < 1e-9, (model, usage, got, expected)
    assert abs(got.input + got.output - got.total) < 1e-9 or got.total > got.input + got.output
    return True


@pytest.mark.parametrize(("provider", "pid", "model"), MATRIX, ids=[f"{p}/{m}" for _, p, m in MATRIX])
def test_equals_calc_price(provider: str, pid: str, model: str) -> None:
    table = PriceTable()
    compared = [_agrees(table, provider, pid, model, usage) for usage in USAGES]
    assert any(compared) or all(_oracle(model, pid, u) is None for u in USAGES)


def _with_unit(price_key: str, pids: tuple[str, ...] = ("openai", "anthropic")) -> list[tuple[str, str, str]]:
    """``(ours, genai-prices provider, model)`` for the models whose current price has ``price_key``."""
    found = []
    for pid in pids:
        provider = next(p for p in DATA if p.id == pid)
        for m in provider.models:
            if getattr(m.get_prices(NOW), price_key, None) is not None:
                found.append((OURS[pid], pid, m.id))
    return found


#: models with a price of their own for each less common unit, and, for each, models without one
#: (where genai-prices prices the unit as the unit it is part of, or a fee as nothing)
EXTRA = list(dict.fromkeys(
    _with_unit("cache_write_1h_mtok")[:5] + _with_unit("input_audio_mtok", ("openai",))[-4:]
    + _with_unit("web_searches_kcount")[-4:] + _with_unit("storage_searches_kcount", ("openai",))[-2:]
    + [("openai", "openai", "gpt-4o-mini"), ("openai", "openai", "o1")]))
EXTRA_USAGES = [
    {"input_tokens": 6000, "output_tokens": 700, "cache_read_tokens": 1000, "cache_write_tokens": 2500,
     "cache_write_1h_tokens": 2000, "web_searches": 4, "storage_searches": 3},
    {"input_tokens": 6000, "output_tokens": 700, "input_audio_tokens": 4500, "output_audio_tokens": 300},
    {"input_tokens": 250_000, "output_tokens": 700, "cache_write_tokens": 100_000, "cache_write_1h_tokens": 100_000,
     "web_searches": 1},  # above the long-context tier of the models that have one
]


def test_the_extra_units_have_prices_in_the_data() -> None:
    assert len(_with_unit("cache_write_1h_mtok")) >= 3
    assert len(_with_unit("input_audio_mtok", ("openai",))) >= 2
    assert len(_with_unit("web_searches_kcount")) >= 3
    assert len(_with_unit("storage_searches_kcount", ("openai",))) >= 2


@pytest.mark.parametrize(("provider", "pid", "model"), EXTRA, ids=[f"{p}/{m}" for _, p, m in EXTRA])
def test_extra_units_equal_calc_price(provider: str, pid: str, model: str) -> None:
    table = PriceTable()
    compared = 0
    for usage in EXTRA_USAGES:
        if _agrees(table, provider, pid, model, usage):
            compared += 1
        # and the same call without the breakdown is priced as genai-prices prices it without one
        _agrees(table, provider, pid, model, {k: v for k, v in usage.items() if k not in EXTRA_UNITS})
    assert compared


def test_extra_units_with_an_override_cost_what_their_parent_unit_costs() -> None:
    table = PriceTable([PriceOverride("my-model", input=2.0, output=8.0, cache_write=3.0)], use_genai_prices=False)
    extra = {"cache_write_1h_tokens": 500, "input_audio_tokens": 100, "output_audio_tokens": 10, "web_searches": 2}
    got = table.cost("openai", "my-model", 2000, 100, 0, 1000, extra=extra)
    plain = table.cost("openai", "my-model", 2000, 100, 0, 1000)
    assert got == plain and plain is not None
    assert plain.total == pytest.approx((1000 * 2.0 + 1000 * 3.0 + 100 * 8.0) / 1e6)
    # units the table does not know are left out, not an error
    assert table.cost("openai", "my-model", 2000, 100, 0, 1000, extra={"holograms": 3}) == plain


def _with_variants(pid: str, key: str) -> list[tuple[str, str, str, str]]:
    """``(ours, genai-prices provider, model, value)`` for each current price variant under ``key``."""
    found = []
    provider = next(p for p in DATA if p.id == pid)
    for m in provider.models:
        for v in m.price_variants or ():
            value = v.when.get(key)
            if value is not None and (v.constraint is None or v.constraint.active(NOW)):
                found.append((OURS[pid], pid, m.id, value))
    return found


#: a few models of each variant value (OpenAI's service tiers, Anthropic's fast mode)
VARIANTS = [("service_tier", *row) for row in _with_variants("openai", "service_tier")][::9] + \
    [("speed", *row) for row in _with_variants("anthropic", "speed")]


def test_the_data_has_service_tier_and_speed_variants() -> None:
    assert {value for key, *_, value in VARIANTS if key == "service_tier"} >= {"flex", "priority"}
    assert any(key == "speed" for key, *_ in VARIANTS)


@pytest.mark.parametrize(("key", "provider", "pid", "model", "value"), VARIANTS,
                         ids=[f"{p}/{m}/{v}" for _, _, p, m, v in VARIANTS])
def test_price_variants_equal_calc_price(key: str, provider: str, pid: str, model: str, value: str) -> None:
    table = PriceTable()
    compared = 0
    for usage in USAGES + EXTRA_USAGES[:1]:
        expected = calc_price(Usage(**{k: v for k, v in usage.items() if v}), model, provider_id=pid,
                              price_context={key: value}).total_price
        got = table.cost(provider, model, usage["input_tokens"], usage["output_tokens"],
                         usage.get("cache_read_tokens", 0), usage.get("cache_write_tokens", 0),
                         extra={k: v for k, v in usage.items() if k in EXTRA_UNITS} or None, variant=(key, value))
        assert got is not None and abs(got.total - float(expected)) < 1e-9, (usage, got, expected)
        compared += expected > 0
    assert compared
    # the variant is priced apart from the model's standard price (each memoised under its own key)
    standard = table.cost(provider, model, 1_000_000, 0)
    assert standard is not None and standard.total == pytest.approx(float(calc_price(
        Usage(input_tokens=1_000_000), model, provider_id=pid).total_price))


def test_a_variant_without_a_price_of_its_own_is_the_standard_price() -> None:
    table = PriceTable()
    standard = table.cost("openai", "gpt-5", 1000, 500, 200)
    assert standard is not None
    for tier in ("default", "scale", "a-tier-from-the-future"):
        assert table.cost("openai", "gpt-5", 1000, 500, 200, variant=("service_tier", tier)) == standard
    flex = table.cost("openai", "gpt-5", 1000, 500, 200, variant=("service_tier", "flex"))
    assert flex is not None and flex.total < standard.total
    # an override's price is the price, whatever the tier
    mine = PriceTable([PriceOverride("gpt-5", input=1.0, output=2.0)])
    assert mine.cost("openai", "gpt-5", 1000, 500, variant=("service_tier", "flex")) == mine.cost(
        "openai", "gpt-5", 1000, 500)


def _tiered() -> list[tuple[str, str, int]]:
    found = []
    for pid, ours in OURS.items():
        provider = next(p for p in DATA if p.id == pid)
        for m in provider.models:
            prices = m.get_prices(NOW)
            starts = sorted({t.start for v in vars(prices).values() if isinstance(v, TieredPrices) for t in v.tiers})
            if starts:
                found.append((ours, m.id, starts[0]))
    return found[:8]


TIERED = _tiered()


@pytest.mark.parametrize(("provider", "model", "threshold"), TIERED, ids=[m for _, m, _ in TIERED])
def test_tier_boundary(provider: str, model: str, threshold: int) -> None:
    pid = PROVIDER_IDS[provider]
    table = PriceTable()
    for n in (threshold, threshold + 1, threshold * 2):
        usage = {"input_tokens": n, "output_tokens": 500, "cache_read_tokens": n // 4}
        expected = _oracle(model, pid, usage)
        got = table.cost(provider, model, n, 500, n // 4)
        assert expected is not None and got is not None
        assert abs(got.total - float(expected)) < 1e-9, (model, n)


def test_tiers_exist_in_the_data() -> None:
    assert len(TIERED) >= 2


USAGE_100K = {"input_tokens": 100_000, "output_tokens": 20_000}


def _around(change: date) -> tuple[datetime, datetime]:
    return (datetime.combine(change - timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc),
            datetime.combine(change + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc))


def _dated_change() -> tuple[str, str, date]:
    """A model whose price for USAGE_100K changed on a date in the data."""
    for pid, ours in OURS.items():
        provider = next(p for p in DATA if p.id == pid)
        for m in provider.models:
            if not isinstance(m.prices, list):
                continue
            for cond in m.prices:
                if isinstance(cond, ConditionalPrice) and isinstance(cond.constraint, StartDateConstraint):
                    before, after = _around(cond.constraint.start_date)
                    a, b = _oracle(m.id, pid, USAGE_100K, before), _oracle(m.id, pid, USAGE_100K, after)
                    if a is not None and b is not None and a != b:
                        return ours, m.id, cond.constraint.start_date
    pytest.skip("no dated price change in the data")


def test_prices_around_a_historical_change() -> None:
    provider, model, change = _dated_change()
    pid = PROVIDER_IDS[provider]
    table = PriceTable()
    results = []
    for at in _around(change):
        expected = _oracle(model, pid, USAGE_100K, at)
        got = table.cost(provider, model, 100_000, 20_000, at=at)
        assert expected is not None and got is not None
        assert abs(got.total - float(expected)) < 1e-9
        results.append(got.total)
    assert results[0] != results[1]


@pytest.mark.parametrize(("provider", "ref", "canonical"), [
    ("openai", "openai/gpt-4o", "gpt-4o"),
    ("openai", "gpt-4o-2024-08-06", "gpt-4o-2024-08-06"),
    ("aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ("azure.ai.openai", "gpt-4o", "gpt-4o"),
])
def test_names_resolve(provider: str, ref: str, canonical: str) -> None:
    got = PriceTable().cost(provider, ref, 1000, 100)
    expected = _oracle(canonical, PROVIDER_IDS[provider], {"input_tokens": 1000, "output_tokens": 100})
    if expected is None:  # the provider has no such entry: genai-prices' best provider for the model
        expected = calc_price(Usage(input_tokens=1000, output_tokens=100), canonical).total_price
    assert got is not None and abs(got.total - float(expected)) < 1e-9


def test_unknown_model_is_unpriced_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    table = PriceTable()
    with caplog.at_level(logging.WARNING, logger="llm_observatory"):
        assert table.cost("openai", "no-such-model-xyz", 100, 10) is None
        assert table.cost("openai", "no-such-model-xyz", 100, 10) is None
    assert len([r for r in caplog.records if "no-such-model-xyz" in r.getMessage()]) == 1


def test_more_cached_than_input_tokens_is_unpriced_not_negative() -> None:
    """A usage whose cache counts exceed its input count (an odd server's) has no price; the
    uncached input would be negative, and so, at cheap enough cache rates, would the cost."""
    table = PriceTable()
    assert table.cost("openai", "gpt-4o", 100, 10, 50, 0) is not None
    assert table.cost("openai", "gpt-4o", 100, 10, 100, 0) is not None  # all of it cached
    assert table.cost("openai", "gpt-4o", 100, 10, 101, 0) is None
    assert table.cost("anthropic", "claude-sonnet-4-20250514", 100, 10, 60, 41) is None


def test_overrides_win_and_match_patterns_providers_and_dates() -> None:
    table = PriceTable([*parse_overrides({
        "gpt-4o": {"input": 1.0, "output": 2.0},
        "acme-ft-*": {"input": 10.0, "output": 20.0, "cache_read": 1.0, "provider": "openai"},
    }), PriceOverride("acme-ft-*", input=30.0, output=60.0, provider="openai", since=date(2030, 1, 1))])
    assert table.cost("openai", "gpt-4o", 1_000_000, 1_000_000).total == pytest.approx(3.0)
    got = table.cost("openai", "acme-ft-v2", 1_000_000, 0, cache_read_tokens=500_000)
    assert got.total == pytest.approx(10.0 * 0.5 + 1.0 * 0.5)
    assert table.cost("anthropic", "acme-ft-v2", 1, 1) is None  # provider-restricted
    later = datetime(2030, 6, 1, tzinfo=timezone.utc)
    assert table.cost("openai", "acme-ft-v2", 1_000_000, 0, at=later).total == pytest.approx(30.0)


def test_price_files(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text('[[price]]\nmodel = "m-*"\ninput = 1.5\noutput = 3\nsince = 2024-01-01\n')
    (tmp_path / "p.json").write_text('{"price": [{"model": "m-json", "input": 2, "output": 4}]}')
    (tmp_path / "p.yaml").write_text("- model: m-yaml\n  input: 0.5\n  output: 1\n  provider: openai\n")
    toml, js, yml = (parse_overrides(tmp_path / f"p.{ext}") for ext in ("toml", "json", "yaml"))
    assert toml == [PriceOverride("m-*", 1.5, 3.0, since=date(2024, 1, 1))]
    assert js == [PriceOverride("m-json", 2.0, 4.0)]
    assert yml == [PriceOverride("m-yaml", 0.5, 1.0, provider="openai")]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("bad.toml", "[[price]]\nmodel = 'x'\ninput = 1\n", "'output' (USD per million tokens) is required"),
    ("bad2.toml", "[[price]]\nmodel = 'x'\ninput = -1\noutput = 1\n", "'input' must be a non-negative number"),
    ("bad3.toml", "[[price]]\nmodel = 'x'\ninput = 1\noutput = 1\ncolor = 'red'\n", "unknown key(s) color"),
    ("bad4.toml", "[[price]\n", "not valid TOML"),
    ("bad5.json", '{"price": [{"model": "x", "input": 1, "output": 1, "since": "yesterday"}]}',
     "'since' must be a date"),
    ("bad.csv", "model,input", "unknown price file type '.csv'"),
])
def test_bad_price_files_give_clear_errors(tmp_path: Path, name: str, text: str, message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(PricingConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_overrides(tmp_path / name)


def test_missing_price_file() -> None:
    with pytest.raises(PricingConfigError, match="cannot read price file"):
        parse_overrides("/nonexistent/prices.toml")


def test_no_background_import_the_application_could_see_half_done(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    """The openai client looks ``httpx2`` up in ``sys.modules`` on every request, and genai-prices
    imports httpx2: the warm-up imports it first, and an SDK that looks it up waits for it in its own
    import; with that SDK imported already, the data is loaded by the first priced call instead."""
    import importlib
    import sys
    import time

    from llm_observatory.pricing import _table

    (tmp_path / "probed_module.py").write_text("import time\ntime.sleep(0.3)\ndone = True\n")
    (tmp_path / "prober_module.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))

    # the SDK that looks the module up is imported already: nothing in the background
    monkeypatch.setattr(_table, "RACY_IMPORTS", {"probed_module": ("json",)})
    table = PriceTable()
    assert table.warm_up() is None
    cost = table.cost("openai", "gpt-4o", 1000, 100)  # loaded on first use instead, on this thread
    assert cost is not None and cost.total == pytest.approx(float(_oracle("gpt-4o", "openai",
                                                                         {"input_tokens": 1000, "output_tokens": 100})))
    assert "probed_module" not in sys.modules

    # not yet: the warm-up imports the module first, and the SDK's import waits for it
    monkeypatch.setattr(_table, "RACY_IMPORTS", {"probed_module": ("prober_module",)})
    try:
        thread = PriceTable().warm_up()
        assert thread is not None
        t0 = time.perf_counter()
        importlib.import_module("prober_module")
        assert sys.modules["probed_module"].done  # complete before the SDK's import returned
        assert time.perf_counter() - t0 < _table.RACY_IMPORT_WAIT_S
        thread.join()
    finally:
        for name in ("probed_module", "prober_module"):
            sys.modules.pop(name, None)


def test_a_unit_the_price_data_does_not_know_is_priced_as_its_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    import genai_prices.types

    table = PriceTable()
    plain = table.cost("anthropic", "claude-sonnet-4-5", 5000, 100, 0, 2000)

    class OldUsage(genai_prices.types.Usage):  # a release before 1-hour cache writes
        def __init__(self, **values: int) -> None:
            if "cache_write_1h_tokens" in values:
                raise TypeError("unexpected keyword argument 'cache_write_1h_tokens'")
            super().__init__(**values)

    monkeypatch.setattr(genai_prices.types, "Usage", OldUsage)
    got = table.cost("anthropic", "claude-sonnet-4-5", 5000, 100, 0, 2000, extra={"cache_write_1h_tokens": 1500})
    assert got == plain and plain is not None
