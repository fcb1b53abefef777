"""Every attribute and metric name the OpenAI adapter emits is declared in semconv.py."""

from __future__ import annotations

from typing import Any

from llm_observatory import semconv
from llm_observatory.testing import capture

from .conftest import make_client
from .fake_openai import FakeOpenAI
from .test_errors_and_transparency import _scenarios

DECLARED = {v for k, v in vars(semconv).items() if k.isupper() and isinstance(v, str)}


def _declared(name: str) -> bool:
    return name in DECLARED or name.startswith(semconv.LLM_METADATA_PREFIX)


def test_every_emitted_name_is_declared() -> None:
    names: set[str] = set()
    metrics: set[str] = set()
    for mode in ("legacy", "latest"):
        for content in (False, True):
            with capture(capture_content=content, metrics_mode=mode) as cap:
                for _name, call in _scenarios():
                    call(make_client(FakeOpenAI()))
                for s in cap.spans():
                    names.update(s.attributes or {})
                    for event in s.events:
                        names.update(k for k in event.attributes or {} if not k.startswith("exception."))
                for metric, points in cap.metrics().items():
                    metrics.add(metric)
                    for p in points:
                        names.update(p["attributes"])
    undeclared = sorted(n for n in names if not _declared(n))
    assert undeclared == []
    assert sorted(m for m in metrics if m not in DECLARED) == []
    assert {"gen_ai.client.operation.duration", "gen_ai.client.inference.duration", "llm.client.cost"} <= metrics


def test_span_names_follow_the_conventions(client: Any) -> None:
    with capture() as cap:
        for _name, call in _scenarios():
            call(client)
    for span in cap.spans():
        op = span.attributes["gen_ai.operation.name"]
        model = span.attributes.get("gen_ai.request.model")
        assert span.name == (f"{op} {model}" if model else op)
