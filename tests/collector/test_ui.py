"""The web UI in headless Chromium, over a collector seeded with a realistic dataset: every view
loads with no console error, shows the query API's numbers, and its filters work. A screenshot of
each view is saved (to ``LLM_OBSERVATORY_SCREENSHOTS``, default ``build/screenshots``)."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

webdriver = pytest.importorskip("selenium.webdriver")

from selenium.webdriver.common.by import By  # noqa: E402

from llm_observatory.collector import Collector  # noqa: E402

from . import demo_data  # noqa: E402
from .conftest import make_config  # noqa: E402
from .test_ingest import post  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="headless Chromium tests need chromium and chromedriver "
                                       "(Debian: apt install chromium chromium-driver)")


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    tmp = tmp_path_factory.mktemp("ui")
    with Collector(make_config(tmp)) as c:
        for body in demo_data.requests():
            assert post(c.http_port, "/v1/traces", body)[0] == 200
        assert c.pipeline.flush(30)
        yield c


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    options = Options()
    options.binary_location = CHROMIUM or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER or ""), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Kept after the run (build/ is not versioned); docs/images holds the ones the docs show.
    path = Path(os.environ.get("LLM_OBSERVATORY_SCREENSHOTS") or Path(__file__).parents[2] / "build" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _api(c: Collector, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{c.http_port}{path}") as response:
        return json.load(response)


def _open(browser: Any, c: Collector, path: str, shots: Path, name: str) -> None:
    browser.get(f"http://127.0.0.1:{c.http_port}{path}")
    browser.save_screenshot(str(shots / f"ui-{name}.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
    assert "LLM Observatory" in browser.title


def _value(browser: Any, metric: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, f'[data-metric="{metric}"]').get_attribute("data-value"))


def test_overview_numbers_equal_the_api(ui: Collector, browser: Any, shots: Path) -> None:
    _open(browser, ui, "/?since=7d", shots, "overview")
    totals = _api(ui, "/api/overview?since=7d")["totals"]
    for key in ("requests", "total_tokens", "cost_usd", "error_rate", "p50_ms", "p95_ms"):
        assert float(_value(browser, key)) == pytest.approx(totals[key]), key
    models = {row.find_elements(By.TAG_NAME, "td")[0].text: row for row in
              browser.find_elements(By.CSS_SELECTOR, "#by-model tbody tr")}
    usage = {r["key"]: r for r in _api(ui, "/api/usage?since=7d&group_by=model")["rows"]}
    assert set(models) == set(usage)
    for model, row in models.items():
        cells = row.find_elements(By.CSS_SELECTOR, "td [data-value]")
        assert int(cells[0].get_attribute("data-value")) == usage[model]["requests"]
        assert float(cells[2].get_attribute("data-value")) == pytest.approx(usage[model]["cost_usd"])
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg rect")) > 0  # the charts


def test_traces_list_filters_sorting_and_detail(ui: Collector, browser: Any, shots: Path) -> None:
    _open(browser, ui, "/traces?since=7d", shots, "traces")
    rows = browser.find_elements(By.CSS_SELECTOR, "#traces tbody tr")
    assert len(rows) == len(_api(ui, "/api/traces?since=7d")["traces"]) == 50  # a page
    browser.find_element(By.LINK_TEXT, "older →").click()
    second = browser.find_elements(By.CSS_SELECTOR, "#traces tbody tr")
    page_two = _api(ui, "/api/traces?since=7d&offset=50")["traces"]
    assert len(second) == len(page_two) and page_two[0]["trace_id"][:16] in second[0].text
    browser.get(f"http://127.0.0.1:{ui.http_port}/traces?since=7d")
    # Filter with the form: errors only.
    from selenium.webdriver.support.ui import Select, WebDriverWait
    Select(browser.find_element(By.CSS_SELECTOR, 'select[name="status"]')).select_by_value("error")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(browser, 10).until(lambda d: "status=error" in d.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#traces tbody tr")
    errors = _api(ui, "/api/traces?since=7d&status=error")["traces"]
    assert len(rows) == len(errors) > 0 and all("error" in r.text for r in rows)
    # Sort by cost: the first row is the most expensive trace.
    browser.get(f"http://127.0.0.1:{ui.http_port}/traces?since=7d&sort=cost")
    first = browser.find_element(By.CSS_SELECTOR, "#traces tbody tr")
    top = _api(ui, "/api/traces?since=7d&sort=cost&limit=1")["traces"][0]
    assert top["trace_id"][:16] in first.text
    first.find_element(By.TAG_NAME, "a").click()
    browser.save_screenshot(str(shots / "ui-trace.png"))
    assert float(_value(browser, "cost_usd")) == pytest.approx(top["cost_usd"])
    assert len(browser.find_elements(By.CSS_SELECTOR, "#waterfall .wf span")) == 4  # agent, model, tool, model
    assert "Good news" in browser.find_element(By.TAG_NAME, "main").text  # the captured messages, as a chat
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_cost_errors_and_sessions_views(ui: Collector, browser: Any, shots: Path) -> None:
    _open(browser, ui, "/cost?since=7d", shots, "cost")
    expensive = browser.find_elements(By.CSS_SELECTOR, "#expensive tbody tr")
    top = _api(ui, "/api/expensive?since=7d&limit=15")["rows"]
    assert len(expensive) == len(top)
    assert float(expensive[0].find_elements(By.CSS_SELECTOR, "td [data-value]")[1].get_attribute("data-value")) \
        == pytest.approx(top[0]["total_cost_usd"])
    assert browser.find_elements(By.CSS_SELECTOR, "svg circle")  # cost against latency
    _open(browser, ui, "/errors?since=7d", shots, "errors")
    rows = browser.find_elements(By.CSS_SELECTOR, "#errors tbody tr")
    assert {r.find_elements(By.TAG_NAME, "td")[2].text for r in rows} == {
        e["error_code"] for e in _api(ui, "/api/errors?since=7d")["errors"]}
    providers = browser.find_elements(By.CSS_SELECTOR, "#error-rates-provider tbody tr")
    by_provider = {r["provider"]: r for r in _api(ui, "/api/errors?since=7d")["by_provider"]}
    for row in providers:
        name = row.find_elements(By.TAG_NAME, "td")[0].text
        rate = row.find_elements(By.CSS_SELECTOR, "td [data-value]")[2].get_attribute("data-value")
        assert float(rate) == pytest.approx(by_provider[name]["error_rate"])
    rows[0].find_element(By.LINK_TEXT, "traces").click()  # errors link to their traces
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(browser, 10).until(lambda d: "/traces" in d.current_url)
    assert all("error" in r.text for r in browser.find_elements(By.CSS_SELECTOR, "#traces tbody tr"))
    _open(browser, ui, "/sessions?since=7d", shots, "sessions")
    rows = browser.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")
    api_sessions = _api(ui, "/api/sessions?since=7d&limit=100")["sessions"]
    assert len(rows) == len(api_sessions) > 0
    session_id = api_sessions[0]["session_id"]
    browser.find_element(By.LINK_TEXT, session_id).click()
    WebDriverWait(browser, 10).until(lambda d: "/sessions/" in d.current_url)
    browser.save_screenshot(str(shots / "ui-session.png"))
    calls = browser.find_elements(By.CSS_SELECTOR, "#session-calls tbody tr")
    assert len(calls) == len(_api(ui, f"/api/sessions/{session_id}")["calls"]) == api_sessions[0]["requests"]
