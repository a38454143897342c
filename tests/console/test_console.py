"""The console as a user meets it: paste a key, run a pipeline, follow it, read the costs."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections import defaultdict
from decimal import Decimal
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import YESTERDAY
from tests.console.conftest import DAYS, HOSTILE_SERVICE, PIPELINE_DAYS, UNICODE_SERVICE, Served, day

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _api(served: Served, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        served.url + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"X-API-Key": served.api_key, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _sign_in(browser: Any, served: Served) -> None:
    browser.get(served.url + "/")
    WebDriverWait(browser, 10).until(ready.visibility_of_element_located((By.ID, "key-input")))
    browser.find_element(By.ID, "key-input").send_keys(served.api_key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    WebDriverWait(browser, 10).until(ready.visibility_of_element_located((By.CSS_SELECTOR, "form.run-form")))


def _toast(browser: Any, kind: str) -> str:
    selector = f"#toasts .toast.{kind} .toast-text"
    return str(WebDriverWait(browser, 15).until(ready.visibility_of_element_located((By.CSS_SELECTOR, selector))).text)


def test_run_a_pipeline_and_follow_it_to_complete(browser: Any, served: Served) -> None:
    _sign_in(browser, served)
    # the key lives in this tab's session storage only: not in the URL, not in a cookie
    assert browser.execute_script("return sessionStorage.getItem('cloudact.apiKey')") == served.api_key
    assert served.api_key not in browser.current_url and browser.get_cookies() == []
    form = browser.find_element(By.CSS_SELECTOR, "form.run-form[data-path='gcp/cost/billing']")
    date_input = form.find_element(By.CSS_SELECTOR, "input[name='date']")
    assert date_input.get_attribute("value") == YESTERDAY.isoformat()  # the pipeline's default, yesterday
    form.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
    message = _toast(browser, "ok")
    run_id = UUID.search(message).group(0)  # type: ignore[union-attr]
    browser.find_element(By.LINK_TEXT, "follow it").click()
    WebDriverWait(browser, 10).until(ready.text_to_be_present_in_element((By.ID, "run-id"), run_id))
    WebDriverWait(browser, 90).until(ready.text_to_be_present_in_element((By.ID, "run-status"), "COMPLETE"))
    steps = browser.find_elements(By.CSS_SELECTOR, "#run-steps tbody tr")
    status, run = _api(served, "GET", f"/api/v1/pipelines/runs/{run_id}")
    assert status == 200 and run["status"] == "COMPLETE"
    assert [row.find_element(By.TAG_NAME, "td").text for row in steps] == [step["name"] for step in run["steps"]]
    assert browser.find_element(By.CSS_SELECTOR, "dd[data-field='Rows']").text == str(run["rows_processed"])

    browser.get(served.url + "/console/#/runs")
    row = WebDriverWait(browser, 10).until(
        ready.visibility_of_element_located((By.CSS_SELECTOR, f"tr[data-run-id='{run_id}']"))
    )
    assert "COMPLETE" in row.text
    Select(browser.find_element(By.ID, "runs-status")).select_by_visible_text("FAILED")
    browser.find_element(By.CSS_SELECTOR, "#runs-filter button").click()
    WebDriverWait(browser, 10).until(ready.staleness_of(row))
    assert browser.find_elements(By.CSS_SELECTOR, f"tr[data-run-id='{run_id}']") == []


def test_a_refused_run_shows_the_apis_message(browser: Any, served: Served) -> None:
    _sign_in(browser, served)
    form = browser.find_element(By.CSS_SELECTOR, "form.run-form[data-path='gcp/cost/billing']")
    date_input = form.find_element(By.CSS_SELECTOR, "input[name='date']")
    browser.execute_script("arguments[0].value = '2999-01-01'", date_input)
    form.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
    shown = _toast(browser, "error")
    status, body = _api(served, "POST", "/api/v1/pipelines/run/acmecorp/gcp/cost/billing", {"date": "2999-01-01"})
    assert status == 400
    assert shown == f"{body['error']['message']} (HTTP 400)"


def _chart_cells(browser: Any) -> dict[tuple[str, str, str], str]:
    cells = {}
    for rect in browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar"):
        chart = rect.find_element(By.XPATH, "ancestor::*[local-name()='svg']")
        key = (chart.get_attribute("data-currency"), rect.get_attribute("data-day"), rect.get_attribute("data-key"))
        cells[key] = rect.get_attribute("data-amount")
    return cells


def _show_costs(browser: Any, served: Served, by: str) -> None:
    browser.get(served.url + "/console/#/costs")
    WebDriverWait(browser, 10).until(ready.visibility_of_element_located((By.ID, "costs-form")))
    for field, value in (("costs-start", day(0).isoformat()), ("costs-end", day(DAYS - 1).isoformat())):
        browser.execute_script("arguments[0].value = arguments[1]", browser.find_element(By.ID, field), value)
    Select(browser.find_element(By.ID, "costs-by")).select_by_value(by)
    old = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    browser.find_element(By.CSS_SELECTOR, "#costs-form button").click()
    if old:
        WebDriverWait(browser, 10).until(ready.staleness_of(old[0]))
    WebDriverWait(browser, 15).until(ready.presence_of_element_located((By.CSS_SELECTOR, "svg.chart rect.bar")))


def test_the_chart_shows_what_the_cost_api_answers(browser: Any, served: Served) -> None:
    _sign_in(browser, served)
    _show_costs(browser, served, "provider")
    query = f"start={day(0).isoformat()}&end={day(DAYS - 1).isoformat()}&group_by=day,provider"
    status, api = _api(served, "GET", f"/api/v1/costs/acmecorp?{query}")
    assert status == 200
    expected = {(row["currency"], row["day"], row["provider"]): row["amount"] for row in api["rows"]}
    assert _chart_cells(browser) == expected
    # the billing runs' own FOCUS rows are there, every day they loaded, in each currency they billed
    real = {(currency, on) for currency, on, provider in expected if provider == "Google Cloud"}
    assert {on for _, on in real} >= {d.isoformat() for d in PIPELINE_DAYS}
    currencies = {currency for currency, _ in real}
    assert len(currencies) > 1
    charts = {chart.get_attribute("data-currency") for chart in browser.find_elements(By.CSS_SELECTOR, "svg.chart")}
    assert charts == {total["currency"] for total in api["totals"]} >= currencies  # one chart per currency
    shown_totals = {
        total.get_attribute("data-currency"): total.get_attribute("data-amount")
        for total in browser.find_elements(By.CSS_SELECTOR, "#totals .total")
    }
    assert shown_totals == {total["currency"]: total["amount"] for total in api["totals"]}
    freshness = browser.find_element(By.ID, "freshness").text
    assert freshness.startswith("Freshness") and "gcp: data of" in freshness


def test_tenant_names_are_shown_as_text(browser: Any, served: Served) -> None:
    _sign_in(browser, served)
    _show_costs(browser, served, "service")
    cells = _chart_cells(browser)
    keys = {key for _, _, key in cells}
    assert {HOSTILE_SERVICE, UNICODE_SERVICE, "Other"} <= keys  # the many real services: the rest is "Other"
    # every day's stack adds up, exactly, to what the API answers for the day (Other summed exactly too)
    query = f"start={day(0).isoformat()}&end={day(DAYS - 1).isoformat()}&group_by=day,service"
    _, api = _api(served, "GET", f"/api/v1/costs/acmecorp?{query}")
    per_day: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in api["rows"]:
        per_day[(row["currency"], row["day"])] += Decimal(row["amount"])
    stacked: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for (currency, on, _), amount in cells.items():
        stacked[(currency, on)] += Decimal(amount)
    assert stacked == per_day
    services = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#top-services tbody tr td:first-child")]
    legend = [item.text for item in browser.find_elements(By.CSS_SELECTOR, ".legend li")]
    accounts = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#top-accounts tbody tr td:first-child")]
    assert HOSTILE_SERVICE in services and HOSTILE_SERVICE in legend
    assert UNICODE_SERVICE.strip() in [text.strip() for text in services]
    assert "p-<b>x</b>" in accounts
    assert browser.execute_script("return window.__xss") is None
    assert browser.execute_script("return document.images.length + document.querySelectorAll('b').length") == 0
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors
