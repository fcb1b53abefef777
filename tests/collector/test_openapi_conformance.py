"""schemathesis against the query API's OpenAPI document: generated requests never get a 5xx, and
every answer has a documented status, content type and schema. Bounded in examples and time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402

from llm_observatory.collector import Collector  # noqa: E402
from llm_observatory.collector._api import OPENAPI  # noqa: E402

from .conftest import make_config  # noqa: E402
from .test_sql_and_api import dataset  # noqa: E402

schema = schemathesis.openapi.from_dict(OPENAPI)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("openapi")
    with Collector(make_config(tmp)) as c:
        c.store.write(dataset())
        yield f"http://127.0.0.1:{c.http_port}"


@schema.parametrize()
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url)
