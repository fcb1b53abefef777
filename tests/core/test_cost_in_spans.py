"""Cost and estimated usage reach the span and the cost counter, through the core."""

from __future__ import annotations

import pytest

from llm_observatory.pricing import PriceOverride, PriceTable
from llm_observatory.testing import capture

from . import toy

TABLE = PriceTable([PriceOverride("toy-1", input=2.0, output=8.0)], use_genai_prices=False)


pytestmark = pytest.mark.usefixtures("toy_instrumented")


def test_request_model_prices_when_the_response_model_is_unknown() -> None:
    with capture(pricer=TABLE) as cap:
        toy.Client().create(model="toy-1", prompt="hi")
    attrs = cap.span("chat toy-1").attributes
    assert attrs["llm.cost.priced"] is True
    assert attrs["llm.cost.usd"] == pytest.approx((7 * 2.0 + 2 * 8.0) / 1e6)


def test_unknown_model_is_unpriced_not_zero() -> None:
    with capture(pricer=PriceTable(use_genai_prices=False)) as cap:
        toy.Client().create(model="toy-1", prompt="hi")
    attrs = cap.span("chat toy-1").attributes
    assert attrs["llm.cost.priced"] is False
    assert "llm.cost.usd" not in attrs
    assert "llm.client.cost" not in cap.metrics()
    assert cap.metrics()["llm.client.unpriced_calls"][0]["value"] == 1


def test_cost_attributes_and_counter() -> None:
    table = PriceTable([PriceOverride("toy-1*", input=2.0, output=8.0)], use_genai_prices=False)
    with capture(pricer=table) as cap:
        toy.Client().create(model="toy-1", prompt="hi")
        toy.Client().create(model="toy-1", prompt="hi")
    attrs = cap.spans()[0].attributes
    expected_in, expected_out = 7 * 2.0 / 1e6, 2 * 8.0 / 1e6
    assert attrs["llm.cost.priced"] is True
    assert attrs["llm.cost.input_usd"] == pytest.approx(expected_in)
    assert attrs["llm.cost.output_usd"] == pytest.approx(expected_out)
    assert attrs["llm.cost.usd"] == pytest.approx(expected_in + expected_out)
    (point,) = cap.metrics()["llm.client.cost"]
    assert point["value"] == pytest.approx(2 * (expected_in + expected_out))
    assert point["attributes"]["gen_ai.response.model"] == "toy-1-2024"


def test_estimated_usage_is_flagged_and_priced(monkeypatch: pytest.MonkeyPatch) -> None:
    table = PriceTable([PriceOverride("toy-1*", input=2.0, output=8.0)], use_genai_prices=False)
    original = toy._Accumulator.finish

    def no_usage(self: toy._Accumulator, chunks: list[toy.Chunk]) -> None:
        chunks = [toy.Chunk(c.text, c.finish_reason, None) for c in chunks]  # the provider sent no usage
        original(self, chunks)
        self.inference.estimate = lambda: (11, len([c for c in chunks if c.text]))

    monkeypatch.setattr(toy._Accumulator, "finish", no_usage)
    with capture(pricer=table) as cap:
        list(toy.Client().create(model="toy-1", prompt="a b", stream=True))
    attrs = cap.span("chat toy-1").attributes
    assert attrs["llm.usage.estimated"] is True
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (11, 3)
    assert attrs["llm.cost.usd"] == pytest.approx((11 * 2.0 + 3 * 8.0) / 1e6)


def test_exact_usage_is_not_flagged() -> None:
    with capture(pricer=TABLE) as cap:
        toy.Client().create(model="toy-1", prompt="hi")
    assert "llm.usage.estimated" not in cap.span("chat toy-1").attributes


def test_our_bookkeeping_is_not_in_the_span_duration() -> None:
    import time

    class SlowPricer:
        def cost(self, *args: object, **kwargs: object) -> None:
            time.sleep(1.0)  # e.g. the price data still loading
            return None

    with capture(pricer=SlowPricer()) as cap:  # type: ignore[arg-type]
        toy.Client().create(model="toy-1", prompt="hi")
    span = cap.span("chat toy-1")
    assert (span.end_time - span.start_time) / 1e9 < 0.5


def _inference_with_extras(pricer: object) -> dict[str, object]:
    from llm_observatory.instrumentation._core._inference import Inference

    with capture(pricer=pricer) as cap:  # type: ignore[arg-type]
        inference = Inference(cap.telemetry, "chat", "openai", "toy-1")
        inference.input_tokens, inference.output_tokens = 100, 10
        inference.extra_usage = {"input_audio_tokens": 60, "web_searches": 2}
        inference.end()
    return dict(cap.spans()[0].attributes or {})


def test_a_pricer_gets_the_extra_units_and_their_attributes_are_set() -> None:
    seen: list[object] = []

    class Pricer:
        def cost(self, *args: object, extra: object = None, **kwargs: object) -> object:
            seen.append(extra)
            return TABLE.cost("openai", "toy-1", 100, 10)

    attrs = _inference_with_extras(Pricer())
    assert seen == [{"input_audio_tokens": 60, "web_searches": 2}]
    assert (attrs["gen_ai.usage.audio.input_tokens"], attrs["llm.usage.web_searches"]) == (60, 2)
    assert attrs["llm.cost.usd"] == pytest.approx((100 * 2.0 + 10 * 8.0) / 1e6)


def test_a_pricer_older_than_the_extra_units_still_prices_the_call() -> None:
    class OldPricer:  # the Pricer protocol as it was: no ``extra``
        def cost(self, provider: str, model: str, input_tokens: int, output_tokens: int,
                 cache_read_tokens: int = 0, cache_write_tokens: int = 0, *, fallback: str | None = None) -> object:
            return TABLE.cost(provider, model, input_tokens, output_tokens)

    attrs = _inference_with_extras(OldPricer())
    assert attrs["llm.cost.usd"] == pytest.approx((100 * 2.0 + 10 * 8.0) / 1e6)
    assert attrs["llm.usage.web_searches"] == 2


def test_a_pricer_gets_the_price_variant_only_when_there_is_one() -> None:
    from llm_observatory.instrumentation._core._inference import Inference

    seen: list[dict[str, object]] = []

    class Pricer:
        def cost(self, *args: object, **kwargs: object) -> object:
            seen.append(kwargs)
            return TABLE.cost("openai", "toy-1", 100, 10)

    class OldPricer:  # the Pricer protocol before the variant: a call with one is still priced
        def cost(self, provider: str, model: str, input_tokens: int, output_tokens: int,
                 cache_read_tokens: int = 0, cache_write_tokens: int = 0, *, fallback: str | None = None) -> object:
            return TABLE.cost(provider, model, input_tokens, output_tokens)

    for pricer in (Pricer(), OldPricer()):
        with capture(pricer=pricer) as cap:
            for variant in (("service_tier", "flex"), None):
                inference = Inference(cap.telemetry, "chat", "openai", "toy-1")
                inference.input_tokens, inference.output_tokens = 100, 10
                inference.price_variant = variant
                inference.end()
        assert [s.attributes["llm.cost.usd"] for s in cap.spans()] == [pytest.approx(280 / 1e6)] * 2
    assert seen == [{"fallback": "toy-1", "variant": ("service_tier", "flex")}, {"fallback": "toy-1"}]


def test_an_extra_unit_nobody_knows_is_left_out_and_the_rest_recorded() -> None:
    from llm_observatory.instrumentation._core._inference import Inference

    with capture(pricer=TABLE) as cap:
        inference = Inference(cap.telemetry, "chat", "openai", "toy-1")
        inference.input_tokens, inference.output_tokens = 100, 10
        inference.extra_usage = {"holograms": 3, "web_searches": 1}
        inference.end()
    attrs = dict(cap.spans()[0].attributes or {})
    assert attrs["llm.usage.web_searches"] == 1 and not any("holograms" in k for k in attrs)
    assert attrs["llm.cost.usd"] == pytest.approx((100 * 2.0 + 10 * 8.0) / 1e6)
