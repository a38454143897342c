"""The provider seam: what providers declare, how pipeline files are checked against it, the
pipeline catalog, and the vendors' exact money."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from decimal import Context, Decimal, localcontext
from pathlib import Path

import pytest
import yaml

from shared import providers
from shared.domain.runs import PipelineRef
from shared.errors import ConfigError, NotFound, TerminalError
from shared.pipelines import config, registry
from shared.providers.admin_api import cents_to_units, content_hash, round_to_numeric
from shared.providers.anthropic.api import VENDOR as ANTHROPIC
from shared.providers.openai.api import VENDOR as OPENAI
from shared.providers.vendor_http import parse_json
from shared.settings import PROJECT_ROOT

CONFIGS = PROJECT_ROOT / "configs"


def test_every_pipeline_file_in_configs_loads_and_ids_are_unique() -> None:
    catalog = config.catalog(CONFIGS)
    files = sorted(CONFIGS.glob("*/*/*.yml"))
    assert len(catalog) == len(files) >= 5
    for (provider, name), ref in catalog.items():
        pipeline = config.load(CONFIGS, ref)
        assert ref.provider == provider and ref.pipeline == name
        declared = providers.get(provider)
        assert set(pipeline.required_integrations) <= set(providers.integration_kinds())
        assert declared.name == provider
    assert config.find(CONFIGS, "gcp", "billing") == PipelineRef("gcp", "cost", "billing")
    assert config.find(CONFIGS, "openai", "tokens") == PipelineRef("openai", "usage", "tokens")


def test_two_files_with_one_pipeline_id_are_refused_naming_both(tmp_path: Path) -> None:
    shutil.copytree(CONFIGS / "openai", tmp_path / "openai")
    clash = tmp_path / "openai" / "invoices" / "billing.yml"
    clash.parent.mkdir()
    shutil.copy(CONFIGS / "openai" / "cost" / "billing.yml", clash)
    with pytest.raises(ConfigError) as error:
        config.catalog(tmp_path)
    message = str(error.value)
    assert str(tmp_path / "openai" / "cost" / "billing.yml") in message and str(clash) in message
    assert "{org}-openai-billing" in message
    with pytest.raises(ConfigError):
        config.discover(tmp_path)  # the scheduler's list refuses it too


def test_required_integrations_must_be_a_kind_some_provider_declares(tmp_path: Path) -> None:
    document = yaml.safe_load((CONFIGS / "openai" / "cost" / "billing.yml").read_text())
    document["required_integrations"] = ["AWS_KEYS"]
    path = tmp_path / "billing.yml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match="unknown integration kind AWS_KEYS"):
        config.parse(path)
    document["required_integrations"] = ["GCP_SA"]  # a kind that exists, but not the one the source needs
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match="needs OPENAI_ADMIN_KEY in required_integrations"):
        config.parse(path)
    document["required_integrations"] = ["OPENAI_ADMIN_KEY"]
    document["steps"][0]["config"]["source"] = "admin_api.cost_report"  # Anthropic's, not OpenAI's
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match=r"unknown source admin_api\.cost_report"):
        config.parse(path)


def test_providers_declare_one_kind_each_and_unknown_ones_are_not_found() -> None:
    assert providers.names() == ("anthropic", "gcp", "openai")
    kinds = {kind: provider.name for kind, provider in providers.integration_kinds().items()}
    assert kinds == {"GCP_SA": "gcp", "OPENAI_ADMIN_KEY": "openai", "ANTHROPIC_ADMIN_KEY": "anthropic"}
    with pytest.raises(NotFound):
        providers.get("aws")
    with pytest.raises(NotFound):
        config.find(CONFIGS, "aws", "billing")


def test_discovery_is_lazy_no_provider_and_no_http_client_imported_until_named() -> None:
    code = (
        "import sys, json\n"
        "from shared import providers\n"
        "from shared.pipelines import config\n"
        "before = sorted(m for m in sys.modules if m.startswith(('shared.providers.', 'httpx')))\n"
        "providers.get('openai')\n"
        "named = sorted(m for m in sys.modules if m.startswith(('shared.providers.', 'httpx')))\n"
        "print(json.dumps([before, named]))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    before, named = json.loads(output.strip().splitlines()[-1])
    assert before == []
    assert named == ["shared.providers.openai"]  # its declaration only: no HTTP client yet


def test_a_third_provider_is_one_folder_and_its_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider package added beside the others (here in a temporary folder on the package's
    path) is discovered with its kind, sources and processors, and its pipeline file loads: no
    other file changes."""
    package = tmp_path / "acmecloud"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from shared.domain.integrations import validate_admin_key\n"
        "from shared.providers import IntegrationKind, Provider, Source\n"
        "PROVIDER = Provider(name='acmecloud', label='AcmeCloud',\n"
        "    integration=IntegrationKind(kind='ACMECLOUD_ADMIN_KEY', validate=lambda body: validate_admin_key(\n"
        "        body['credential'], label='AcmeCloud', admin_prefix='ac-admin-', ordinary_prefixes=('ac-',))),\n"
        "    sources={'admin_api.costs': Source('ACMECLOUD_ADMIN_KEY'),\n"
        "             'admin_api.usage_completions': Source('ACMECLOUD_ADMIN_KEY')},\n"
        "    processors={'acmecloud.admin_api': 'shared.providers.acmecloud.api:AcmeCloudAdminApi'})\n"
    )
    # its API: here OpenAI-compatible, so the vendor class is OpenAI's with its own name and URL
    (package / "api.py").write_text(
        "from shared.providers.admin_api import AdminApiFetch\n"
        "from shared.providers.openai.api import OpenAI\n"
        "class AcmeCloud(OpenAI):\n"
        "    provider = 'acmecloud'\n"
        "    label = 'AcmeCloud'\n"
        "    base_url_env = 'CLOUDACT_ACMECLOUD_API_BASE'\n"
        "    endpoints = {n: OpenAI.endpoints[n] for n in ('admin_api.costs', 'admin_api.usage_completions')}\n"
        "class AcmeCloudAdminApi(AdminApiFetch):\n"
        "    vendor = AcmeCloud()\n"
    )
    configs = tmp_path / "configs"
    (configs / "acmecloud" / "cost").mkdir(parents=True)
    shutil.copytree(CONFIGS / "openai" / "cost" / "sql", configs / "acmecloud" / "cost" / "sql")  # its FOCUS SQL
    document = yaml.safe_load((CONFIGS / "openai" / "cost" / "billing.yml").read_text())
    document["required_integrations"] = ["ACMECLOUD_ADMIN_KEY"]
    for step in document["steps"]:  # its costs and its usage
        if step["processor"] == "openai.admin_api":
            step["processor"] = "acmecloud.admin_api"
    (configs / "acmecloud" / "cost" / "billing.yml").write_text(yaml.safe_dump(document))
    monkeypatch.setattr(providers, "__path__", [*providers.__path__, str(tmp_path)])
    for cached in (providers.names, providers.get, providers.integration_kinds):
        cached.cache_clear()
    try:
        assert "acmecloud" in providers.names()
        assert providers.for_kind("ACMECLOUD_ADMIN_KEY").label == "AcmeCloud"
        ref = config.find(configs, "acmecloud", "billing")
        pipeline = config.load(configs, ref)
        assert pipeline.required_integrations == ["ACMECLOUD_ADMIN_KEY"]
        assert type(registry.get("acmecloud.admin_api")).__name__ == "AcmeCloudAdminApi"
        canonical, metadata = providers.get("acmecloud").integration.validate({"credential": "ac-admin-0123456789"})
        assert json.loads(canonical) == {"admin_key": "ac-admin-0123456789"} and set(metadata) == {"fingerprint"}
    finally:
        monkeypatch.undo()
        for cached in (providers.names, providers.get, providers.integration_kinds):
            cached.cache_clear()
        for module in ("shared.providers.acmecloud", "shared.providers.acmecloud.api"):
            sys.modules.pop(module, None)
        registry._instances.pop("acmecloud.admin_api", None)


# -- exact money -------------------------------------------------------------------------------


def test_openai_json_numbers_are_read_as_exact_decimals() -> None:
    body = parse_json('{"a": 0.06, "b": 4.5e-07, "c": 12345678.123456789, "d": 1.2345678901234567, "e": 3}')
    assert body == {
        "a": Decimal("0.06"),
        "b": Decimal("0.00000045"),
        "c": Decimal("12345678.123456789"),
        "d": Decimal("1.2345678901234567"),
        "e": 3,
    }
    assert all(not isinstance(value, float) for value in body.values())
    assert float(body["d"]) != body["d"]  # a float would have lost the 17th digit
    with pytest.raises(ValueError):
        parse_json("[" * 100 + "]" * 100)  # depth-limited: untrusted input
    with pytest.raises(ValueError):
        parse_json("[" * 100_000 + "]" * 100_000)  # deeper than the interpreter recurses


def test_anthropic_cents_strings_become_currency_units_exactly() -> None:
    assert cents_to_units("123.4567", "Anthropic") == Decimal("1.234567")
    assert cents_to_units("0.0045", "Anthropic") == Decimal("0.000045")
    assert cents_to_units("1000", "Anthropic") == Decimal("10")
    assert cents_to_units("0.00001", "Anthropic") == Decimal("1E-7")
    for bad in ("12,5", "NaN", "Infinity", None, 1.5):
        with pytest.raises(TerminalError):
            cents_to_units(bad, "Anthropic")


def test_rows_are_flattened_summed_per_group_and_keep_null_keys() -> None:
    day = date(2026, 11, 1)
    results = [
        (day, {"amount": {"value": Decimal("4.5E-7"), "currency": "usd"}, "project_id": None, "line_item": "x"}),
        (day, {"amount": {"value": Decimal("0.1"), "currency": "usd"}, "project_id": None, "line_item": "x"}),
        (
            day,
            {
                "amount": {"value": Decimal("1.2345678901234567"), "currency": "usd"},
                "project_id": "p",
                "line_item": "x",
            },
        ),
    ]
    rows = OPENAI.rows("admin_api.costs", results)
    assert [(row["project_id"], row["currency"], row["amount"], row["source_rows"]) for row in rows] == [
        (None, "USD", Decimal("0.10000045"), 2),
        ("p", "USD", Decimal("1.234567890"), 1),  # rounded to NUMERIC as read
    ]
    assert all(row["amount"].as_tuple().exponent == -9 for row in rows)
    too_large = [(day, {"amount": {"value": Decimal("1E29"), "currency": "usd"}})]
    with pytest.raises(TerminalError, match="OpenAI's amount is beyond NUMERIC's 29 integer digits"):
        OPENAI.rows("admin_api.costs", too_large)
    each_fits = [(day, {"amount": {"value": Decimal("6E28"), "currency": "usd"}})] * 2
    with pytest.raises(TerminalError, match="OpenAI's amount for one day and group exceeds NUMERIC"):
        OPENAI.rows("admin_api.costs", each_fits)
    anthropic = ANTHROPIC.rows(
        "admin_api.cost_report", [(day, {"currency": "USD", "amount": "0.5", "workspace_id": None, "description": "d"})]
    )
    assert anthropic[0]["workspace_id"] is None and anthropic[0]["amount"] == Decimal("0.005")
    finer_than_numeric = ANTHROPIC.rows(
        "admin_api.cost_report", [(day, {"currency": "USD", "amount": "0.00000025", "description": "d"})]
    )
    assert str(finer_than_numeric[0]["amount"]) == "2E-9"  # 2.5E-9 units, half-even to 2E-9


def nanos(amount: Decimal) -> Decimal:
    """Independent reference: ties at the 10th decimal go to the even 9th digit, digit by digit."""
    with localcontext(Context(prec=100)):
        sign = -1 if amount < 0 else 1
        scaled = abs(amount).scaleb(9)
        whole = int(scaled)
        fraction = scaled - whole
        if fraction > Decimal("0.5") or (fraction == Decimal("0.5") and whole % 2 == 1):
            whole += 1
        return Decimal(sign * whole).scaleb(-9)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0000000005", "0"),  # a tie at the 10th decimal: to the even 9th digit (0)
        ("0.0000000015", "0.000000002"),  # to the even 9th digit (2)
        ("0.0000000025", "0.000000002"),
        ("0.00000000250000001", "0.000000003"),  # just past the tie
        ("-0.0000000035", "-0.000000004"),  # negatives are symmetric
        ("-0.0000000045", "-0.000000004"),
        ("-0.0000000001", "0"),  # no negative zero
        ("4.5e-07", "0.00000045"),  # exponent form, already within 9 decimals
        ("4.5e-10", "0"),  # a tie in exponent form
        ("1.5e-09", "0.000000002"),
        ("0.030862499999999998", "0.030862500"),  # a float's 17 significant digits
        ("1.2345678901234567", "1.234567890"),
        ("12345678.123456789", "12345678.123456789"),  # already NUMERIC: unchanged
        ("99999999999999999999999999999.999999999", "99999999999999999999999999999.999999999"),
        ("1E+28", "10000000000000000000000000000"),
        ("3", "3"),
    ],
)
def test_amounts_are_rounded_half_even_to_nine_decimals(text: str, expected: str) -> None:
    amount = parse_json(f'{{"value": {text}}}')["value"]
    rounded = round_to_numeric(Decimal(amount), "OpenAI")
    assert rounded == Decimal(expected) == nanos(Decimal(amount))
    assert rounded.as_tuple().exponent == -9
    assert rounded.is_signed() == (rounded < 0)  # no negative zero


@pytest.mark.parametrize(
    "text", ["1E+29", "-1E+29", "99999999999999999999999999999.9999999995", "1e400", "123456789012345678901234567890"]
)
def test_an_amount_numeric_cannot_hold_is_a_terminal_error_naming_the_field(text: str) -> None:
    with pytest.raises(TerminalError, match="OpenAI's amount is beyond NUMERIC's 29 integer digits"):
        round_to_numeric(Decimal(text), "OpenAI")
    with pytest.raises(TerminalError, match="Anthropic's cost is beyond NUMERIC"):
        round_to_numeric(Decimal(text), "Anthropic", "cost")


def test_rounding_is_unbiased_over_many_ties() -> None:
    ties = [Decimal(f"0.{'0' * 8}{digit}5") for digit in range(10)]  # x.5 nano for x = 0..9
    assert sum(round_to_numeric(tie, "OpenAI") for tie in ties) == sum(ties)  # half-up would add 5 nanos


def test_content_hash_is_equal_for_equal_amounts_and_moves_with_one_digit() -> None:
    rows = [{"k": "a", "v": Decimal("1.10")}, {"k": "b", "v": Decimal("2")}]
    same = content_hash(("k", "v"), rows)
    assert same == content_hash(("k", "v"), [{"k": "a", "v": Decimal("1.1")}, {"k": "b", "v": Decimal("2.0")}])
    assert same != content_hash(("k", "v"), [{"k": "a", "v": Decimal("1.1000000000000001")}, rows[1]])


def test_long_cents_strings_are_not_rounded_by_the_default_decimal_context() -> None:
    thirty_digits = "123456789012345678901234567.891"  # beyond the default 28-digit precision
    assert cents_to_units(thirty_digits, "Anthropic") == Decimal("1234567890123456789012345.67891")


def test_the_log_scan_recognises_both_vendors_admin_keys() -> None:
    from shared.local_stack.fakes import DEFAULT_ANTHROPIC_ADMIN_KEY, DEFAULT_OPENAI_ADMIN_KEY
    from tests.conftest import LEAKS

    assert LEAKS.search(f"calling with {DEFAULT_OPENAI_ADMIN_KEY}")
    assert LEAKS.search(f"calling with {DEFAULT_ANTHROPIC_ADMIN_KEY}")
    assert not LEAKS.search("OpenAI admin keys start with sk-admin-")  # the refusal message is not a leak


def test_bigquery_load_rows_spell_amounts_exactly_without_exponent() -> None:
    from shared.adapters.gcp.warehouse import encode_rows

    encoded = encode_rows(("amount",), [(Decimal("4.5E-7"),), (Decimal("0.030862499999999998"),)])
    assert encoded.decode().splitlines() == ['{"amount": "0.00000045"}', '{"amount": "0.030862499999999998"}']


def test_token_counts_stay_integers_and_a_fractional_count_is_refused() -> None:
    day = date(2026, 11, 1)
    usage = [(day, {"project_id": "p", "input_tokens": Decimal("12.0"), "output_tokens": 3})] * 2
    row = OPENAI.rows("admin_api.usage_completions", usage)[0]
    assert (row["input_tokens"], row["output_tokens"], row["num_model_requests"]) == (24, 6, 0)
    assert type(row["input_tokens"]) is int
    for bad in (Decimal("1.5"), "7", True, Decimal("1E+30")):
        with pytest.raises(TerminalError, match="OpenAI sent a non-integer input_tokens"):
            OPENAI.rows("admin_api.usage_completions", [(day, {"input_tokens": bad})])
    with pytest.raises(TerminalError, match="OpenAI sent input_tokens beyond INT64"):
        OPENAI.rows("admin_api.usage_completions", [(day, {"input_tokens": 2**63})])
