"""Budgets: windows, warn/raise/callback, concurrency, bounded keys, never raising mid-stream."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Iterator

import pytest

import llm_observatory as observatory
from llm_observatory import budgets
from llm_observatory.pricing import PriceOverride, PriceTable
from llm_observatory.testing import capture
from tests.core import toy

# toy calls use 7 input and 2 output tokens (4 output tokens when streaming "a b c"):
# at $1M/MTok in and out, a call costs $9 and a stream $11.
TABLE = PriceTable([PriceOverride("toy-1*", input=1_000_000.0, output=1_000_000.0)], use_genai_prices=False)


@pytest.fixture(autouse=True)
def setup() -> Iterator[None]:
    inst = toy.ToyInstrumentor()
    inst.instrument()
    with capture(pricer=TABLE):
        yield
    inst.uninstrument()
    for b in budgets._budgets:
        b.close()


def call() -> toy.Response:
    return toy.Client().create(model="toy-1", prompt="x")  # type: ignore[no-any-return]


def test_warn_fires_once_per_crossing(caplog: pytest.LogCaptureFixture) -> None:
    b = observatory.budget(20.0)
    with caplog.at_level(logging.WARNING, logger="llm_observatory"):
        for _ in range(5):
            call()
    assert b.spent() == pytest.approx(45.0)
    assert len([r for r in caplog.records if "budget" in r.getMessage()]) == 1


def test_raise_stops_the_next_call_per_user_only() -> None:
    b = observatory.budget(10.0, per="user", on_exceed="raise")
    with observatory.user("alice"):
        call()
        call()  # crosses: $18 of $10; this call itself completes
        with pytest.raises(observatory.BudgetExceeded) as info:
            call()
    assert info.value.key == "alice" and info.value.spent_usd == pytest.approx(18.0)
    with observatory.user("bob"):
        assert call().text == "echo x"  # bob has his own budget
    call()  # no user: not counted by a per-user budget
    assert b.spent("alice") == pytest.approx(18.0) and b.spent("bob") == pytest.approx(9.0)


def test_refused_call_is_recorded_and_sends_nothing() -> None:
    observatory.budget(5.0, on_exceed="raise")
    with capture(pricer=TABLE) as cap:
        call()
        sent = toy.Client.requests_sent
        with pytest.raises(observatory.BudgetExceeded):
            call()
        assert toy.Client.requests_sent == sent
    refused = cap.spans()[-1]
    assert refused.attributes["error.type"] == "llm_observatory.BudgetExceeded"


def test_never_raises_inside_a_stream_being_read() -> None:
    observatory.budget(5.0, on_exceed="raise")
    stream = toy.Client().create(model="toy-1", prompt="a b c", stream=True)
    # the stream's own cost ($11) crosses the limit at its end; reading it never raises
    assert [c.text for c in stream] == ["echo", "a", "b", "c", ""]
    with pytest.raises(observatory.BudgetExceeded):
        call()


def test_callback_and_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[budgets.BudgetEvent] = []
    now = [1_000_000.0]
    monkeypatch.setattr(budgets.time, "time", lambda: now[0])
    b = observatory.budget(10.0, window="1h", on_exceed=events.append, name="hourly")
    call()
    call()
    assert [(e.budget.name, e.spent_usd) for e in events] == [("hourly", 18.0)]
    now[0] += 3600  # the next window starts from zero and can fire again
    assert b.spent() == 0.0
    call()
    call()
    assert len(events) == 2 and events[1].window_start == events[0].window_start + 3600


def test_custom_key_and_model_keys() -> None:
    by_tenant = observatory.budget(100.0, per=lambda attrs: attrs.get("llm.metadata.tenant"))
    by_model = observatory.budget(100.0, per="model")
    with observatory.metadata(tenant="acme"):
        call()
    assert by_tenant.spent("acme") == pytest.approx(9.0)
    assert by_model.spent("toy-1-2024") == pytest.approx(9.0)


def test_bounded_keys() -> None:
    b = observatory.budget(1e9, per="session", max_keys=50)
    for i in range(500):
        with observatory.session(f"s-{i}"):
            call()
    assert b.keys() == 50
    assert b.spent("s-499") == pytest.approx(9.0) and b.spent("s-0") == 0.0


def test_concurrent_threads_and_tasks_count_every_call() -> None:
    b = observatory.budget(1e9, per="user")

    def worker(i: int) -> None:
        with observatory.user(f"u-{i % 4}"):
            for _ in range(25):
                call()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, range(16)))

    async def atask(i: int) -> None:
        with observatory.user(f"u-{i % 4}"):
            for _ in range(5):
                await toy.AsyncClient().create(model="toy-1", prompt="x")

    async def main() -> None:
        await asyncio.gather(*(atask(i) for i in range(20)))

    asyncio.run(main())
    assert sum(b.spent(f"u-{k}") for k in range(4)) == pytest.approx(9.0 * (16 * 25 + 20 * 5))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"limit_usd": 0}, "limit_usd must be a positive number"),
    ({"limit_usd": 1, "per": "team"}, "per must be one of"),
    ({"limit_usd": 1, "window": "soon"}, "window must be"),
    ({"limit_usd": 1, "on_exceed": "explode"}, "on_exceed must be"),
])
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        observatory.budget(**kwargs)  # type: ignore[arg-type]
