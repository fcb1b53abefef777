"""Session, user, conversation, tags and metadata: stamping, nesting, tasks, threads."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Iterator

import pytest

import llm_observatory as observatory
from llm_observatory import context
from llm_observatory.testing import Capture


@pytest.fixture(autouse=True)
def threads() -> Iterator[None]:
    context.install_thread_propagation()
    yield
    context.uninstall_thread_propagation()


@observatory.task
def step(name: str) -> str:
    return name


def test_helpers_stamp_spans(cap: Capture) -> None:
    with observatory.session("s-1"), observatory.user("u-1"), observatory.conversation("c-1"), \
            observatory.tags("a", "b"), observatory.metadata(tenant="acme", tier=2):
        with observatory.tags("b", "c"), observatory.metadata(tier=3, beta=True):
            step("inner")
        step("outer")
    step("outside")
    spans = cap.spans()
    inner, outer, outside = (dict(s.attributes) for s in spans)
    assert inner["session.id"] == "s-1" and inner["user.id"] == "u-1"
    assert inner["gen_ai.conversation.id"] == "c-1"
    assert inner["llm.tags"] == ("a", "b", "c")
    assert (inner["llm.metadata.tenant"], inner["llm.metadata.tier"], inner["llm.metadata.beta"]) == ("acme", 3, True)
    assert outer["llm.tags"] == ("a", "b") and outer["llm.metadata.tier"] == 2 and "llm.metadata.beta" not in outer
    assert not any(k.startswith(("session", "user", "llm.tags", "llm.metadata")) for k in outside)


def test_helpers_as_decorators(cap: Capture) -> None:
    @observatory.session("s-dec")
    @observatory.tags("decorated")
    def handler() -> str:
        return step("x")

    @observatory.user("u-async")
    async def ahandler() -> str:
        return step("y")

    assert handler() == "x"
    assert asyncio.run(ahandler()) == "y"
    first, second = cap.spans()
    assert first.attributes["session.id"] == "s-dec" and first.attributes["llm.tags"] == ("decorated",)
    assert second.attributes["user.id"] == "u-async" and "session.id" not in second.attributes


def test_bad_values_warn_and_are_dropped(cap: Capture, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llm_observatory"), observatory.session("x" * 1000), \
            observatory.user(12.5), observatory.tags("ok", "", 3), observatory.metadata(good="yes", bad=object()):
        step("s")
    attrs = cap.spans()[0].attributes
    assert "session.id" not in attrs and "user.id" not in attrs
    assert attrs["llm.tags"] == ("ok",)
    assert attrs["llm.metadata.good"] == "yes" and "llm.metadata.bad" not in attrs
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 5, messages


async def test_concurrent_tasks_do_not_leak(cap: Capture) -> None:
    @observatory.workflow
    async def handle(i: int) -> str:
        with observatory.session(f"s-{i}"):
            await asyncio.sleep(0.001 * (5 - i))
            return step(f"task-{i}")

    assert await asyncio.gather(*(handle(i) for i in range(5))) == [f"task-{i}" for i in range(5)]
    spans = {s.context.span_id: s for s in cap.spans()}
    for s in cap.spans():
        if s.name == "step":
            parent = spans[s.parent.span_id]
            assert parent.name == "invoke_workflow handle"
            assert s.context.trace_id == parent.context.trace_id
    sessions = sorted(s.attributes["session.id"] for s in cap.spans() if s.name == "step")
    assert sessions == [f"s-{i}" for i in range(5)]
    roots = [s for s in cap.spans() if s.name == "invoke_workflow handle"]
    assert len({s.context.trace_id for s in roots}) == 5


def test_thread_pool_and_threads_get_the_context(cap: Capture) -> None:
    @observatory.workflow
    def fan_out() -> list[str]:
        with observatory.user("u-pool"), concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(step, ["a", "b", "c"]))
        out: list[str] = []
        t = threading.Thread(target=lambda: out.append(step("thread")))
        t.start()
        t.join()
        return results + out

    assert fan_out() == ["a", "b", "c", "thread"]
    root = cap.span("invoke_workflow fan_out")
    children = [s for s in cap.spans() if s.name == "step"]
    assert len(children) == 4
    assert all(s.parent.span_id == root.context.span_id for s in children)
    assert [s.attributes.get("user.id") for s in children] == ["u-pool"] * 3 + [None]


def test_no_leak_between_pool_tasks(cap: Capture) -> None:
    def work(i: int) -> None:
        with observatory.session(f"s-{i}"):
            step(str(i))

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(work, range(6)))
    step("after")
    by_name = {s.attributes.get("session.id") for s in cap.spans() if s.name == "step"}
    assert by_name == {f"s-{i}" for i in range(6)} | {None}
    assert all(s.parent is None for s in cap.spans())


def test_application_contextvars_are_not_carried_into_threads() -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("app_var", default="unset")
    var.set("main")
    seen: list[str] = []
    t = threading.Thread(target=lambda: seen.append(var.get()))
    t.start()
    t.join()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        seen.append(pool.submit(var.get).result())
    assert seen == ["unset", "unset"]


def test_propagation_can_be_uninstalled(cap: Capture) -> None:
    context.uninstall_thread_propagation()

    @observatory.workflow
    def root() -> None:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(step, "orphan").result()

    root()
    assert cap.span("step").parent is None


def test_baggage_carries_ids(cap: Capture) -> None:
    from opentelemetry import baggage
    from opentelemetry import context as otel_context

    context.set_baggage_enabled(True)
    try:
        with observatory.session("s-bag"):
            assert baggage.get_baggage("session.id") == "s-bag"
        # A downstream service: the id arrives only as baggage, and stamps the span there too.
        token = otel_context.attach(baggage.set_baggage("user.id", "u-remote"))
        try:
            step("downstream")
        finally:
            otel_context.detach(token)
    finally:
        context.set_baggage_enabled(False)
    assert cap.span("step").attributes["user.id"] == "u-remote"


def test_unusual_threads_still_start(cap: Capture) -> None:
    class Frozen(threading.Thread):
        def __setattr__(self, name: str, value: object) -> None:
            if name == "run":
                raise AttributeError("read-only run")
            super().__setattr__(name, value)

    done: list[int] = []
    t = Frozen(target=lambda: done.append(1))
    t.start()
    t.join()
    assert done == [1]
