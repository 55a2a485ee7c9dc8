"""Price table validation, $/1M tokens, break-even and the measured-run cost report (cost.py, measured.py)."""

from pathlib import Path

import pytest

from build_engines.capacity import cost
from build_engines.capacity.measured import measured_cost, priced_run

EXAMPLE = Path(__file__).parents[3] / "build_engines" / "capacity" / "prices.example.yaml"


def write_table(tmp_path, text):
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    return path


ROW = """\
a:
  gpu: H100
  gpus: 8
  usd_per_hour: 80
  source: quote 42
  date: 2026-01-02
"""


def test_the_shipped_table_names_a_source_and_date_for_every_price():
    table = cost.load_prices(EXAMPLE)
    assert all(row.source and row.date for row in table.values())
    # Only the two AWS list prices are real; every other row says it is a placeholder.
    real = sorted(name for name, row in table.items() if not row.illustrative)
    assert real == ["p4d.24xlarge-capacity-block", "p5.48xlarge-capacity-block"]
    assert table["p5.48xlarge-capacity-block"].usd_per_gpu_hour == 39.33 / 8
    assert table["cpu-16vcpu-on-demand"].gpus == 0


def test_a_valid_row_loads(tmp_path):
    row = cost.load_prices(write_table(tmp_path, ROW))["a"]
    # kind defaults to on_demand; YAML's date becomes the ISO text.
    assert (row.gpu, row.gpus, row.usd_per_hour, row.kind, row.date) == (
        "H100",
        8,
        80.0,
        "on_demand",
        "2026-01-02",
    )
    assert row.usd_per_gpu_hour == 10.0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("  source: quote 42\n", ""), "missing source"),
        (lambda t: t.replace("quote 42", '""'), "source is empty"),
        (lambda t: t.replace("2026-01-02", "01/02/2026"), "date must be YYYY-MM-DD"),
        (lambda t: t.replace("gpu: H100", "gpu: V100"), "gpu 'V100' is not one of"),
        (
            lambda t: t.replace("usd_per_hour: 80", "usd_per_hour: -1"),
            "usd_per_hour must be a positive number",
        ),
        (lambda t: t.replace("gpus: 8", "gpus: 0"), "gpus must be a positive integer"),
        (lambda t: t + "  kind: rented\n", "kind must be one of"),
        (lambda t: t + "  kind: on_prem\n", "an on_prem row needs capex_usd"),
    ],
)
def test_bad_rows_are_refused_with_the_reason(tmp_path, edit, message):
    with pytest.raises(ValueError, match=message):
        cost.load_prices(write_table(tmp_path, edit(ROW)))


def test_on_prem_price_must_be_its_amortised_parts(tmp_path):
    # 300,000 $ over 36 months of 730 h is 11.42 $/h, + 4 $/h opex = 15.42, not 20.
    text = ROW.replace("usd_per_hour: 80", "usd_per_hour: 20") + (
        "  kind: on_prem\n  capex_usd: 300000\n  amortisation_months: 36\n  opex_usd_per_hour: 4.0\n"
    )
    with pytest.raises(ValueError, match=r"is not capex/\(months × 730 h\) \+ opex = 15.42"):
        cost.load_prices(write_table(tmp_path, text))


def test_unknown_instance_lists_the_table():
    with pytest.raises(ValueError, match="no instance 'x' in the price table: one of p5.48xlarge"):
        cost.pick(cost.load_prices(EXAMPLE), "x")


def test_cost_per_million_tokens():
    # 10 $ buys an hour; 1,000 tok/s for an hour is 3.6 M tokens: 10 / 3.6 = 2.777... $ per million.
    assert cost.usd_per_million_tokens(10.0, 1000.0) == pytest.approx(10 / 3.6, rel=1e-12)
    with pytest.raises(ValueError, match="tokens per second must be positive"):
        cost.usd_per_million_tokens(10.0, 0.0)


def test_break_even_of_the_example_server():
    table = cost.load_prices(EXAMPLE)
    # Per GPU: 300,000 / 8 = 37,500 $ of capex, saving 80/8 − 4/8 = 9.5 $ an hour of renting:
    # 37,500 / (9.5 × 730) = 5.407 months.
    months = cost.break_even_months(table["h100-8x-on-demand"], table["h100-8x-on-prem"])
    assert months == pytest.approx(37_500 / (9.5 * 730), rel=1e-12)
    with pytest.raises(ValueError, match="is not an on_prem row"):
        cost.break_even_months(table["h100-8x-on-prem"], table["h100-8x-spot"])


def test_renting_cheaper_than_running_never_breaks_even():
    table = cost.load_prices(EXAMPLE)
    cheap = cost.PriceRow(
        instance="c", gpu="H100", gpus=8, usd_per_hour=2.0, kind="spot", source="s", date="2026-01-01"
    )
    # 0.25 $/GPU-hour to rent is below the server's 0.5 $/GPU-hour opex alone.
    assert cost.break_even_months(cheap, table["h100-8x-on-prem"]) is None


def test_measured_run_on_the_cpu_row():
    row = cost.load_prices(EXAMPLE)["cpu-16vcpu-on-demand"]
    out = measured_cost(output_tok_s=100.0, requests_s=0.5, price=row, target_requests_s=4.0)
    # The whole CPU instance (0.68 $/h) for 100 tok/s: 0.68 / 0.36 M tokens; 4 req/s needs 8 such replicas.
    assert out["usd_per_million_output_tokens"] == pytest.approx(0.68 / 0.36, rel=1e-12)
    assert out["replicas_for_target"] == 8
    assert out["illustrative_price"] is True


def test_measured_run_on_a_gpu_row_pays_for_its_gpus():
    row = cost.load_prices(EXAMPLE)["p5.48xlarge-capacity-block"]
    out = measured_cost(output_tok_s=20_000.0, requests_s=100.0, price=row, gpus_per_replica=2)
    # Two of eight GPUs: 2 × 39.33/8 = 9.8325 $/h; no target, so no replica count.
    assert out["usd_per_hour_per_replica"] == pytest.approx(9.8325, rel=1e-12)
    assert out["usd_per_million_output_tokens"] == pytest.approx(9.8325 / 72, rel=1e-12)
    assert out["replicas_for_target"] is None


def test_priced_run_is_null_without_a_table_and_names_the_row_with_one():
    # What the load test writes into summary.json: nulls without PRICES, so the keys are always there.
    assert priced_run(output_tok_s=10.0, requests_s=1.0, prices=None, instance=None) == {
        "usd_per_million_output_tokens": None,
        "replicas_for_target": None,
        "price": None,
    }
    out = priced_run(
        output_tok_s=100.0,
        requests_s=0.5,
        prices=EXAMPLE,
        instance="cpu-16vcpu-on-demand",
        target_requests_s=2.0,
    )
    # 0.68 $/h for 0.36 M tokens an hour; 2 req/s at 0.5 req/s a replica is 4 replicas.
    assert out["usd_per_million_output_tokens"] == pytest.approx(0.68 / 0.36, rel=1e-12)
    assert out["replicas_for_target"] == 4
    assert out["price"]["instance"] == "cpu-16vcpu-on-demand"
    with pytest.raises(ValueError, match="a price table needs INSTANCE"):
        priced_run(output_tok_s=1.0, requests_s=1.0, prices=EXAMPLE, instance=None)
