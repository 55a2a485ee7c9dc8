"""`plan` prints the disk sizes the Helm chart must be given (storage.py), and the chart's defaults hold the
largest model docs/GPU.md builds (Llama-2-70B FP16 at TP=8).

Llama-2-70B FP16, TP=8 (numbers of test_plan.py's docstring):
  checkpoint 68,976,648,192 params x 2 B                  = 137,953,296,384 B
  engine: every rank's share, 17,705,222,144 B x 8        = 141,641,777,152 B (> the 137.95 GB of weights:
          the embedding is whole on each rank)
  repository = engine + 1 GiB of small files              = 142,715,518,976 B; x 1.2 / 2^30 = 159.5 -> 160Gi
  build claim = checkpoint + 2 repositories + one engine-sized TensorRT-LLM checkpoint
              = 565,026,111,488 B; x 1.2 / 2^30 = 631.5 -> 632Gi
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from test_plan import LLAMA2_70B

from build_engines.trtllm.__main__ import main

CHART_DIR = Path(__file__).resolve().parents[3] / "helm" / "triton-llm"


def plan_json(tmp_path, capsys, *args: str) -> dict:
    (tmp_path / "config.json").write_text(json.dumps(LLAMA2_70B))
    assert main(["plan", "--config", str(tmp_path), "--tp", "8", "--gpu-mem-gb", "80", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_seventy_b_sizes(tmp_path, capsys):
    disk = plan_json(tmp_path, capsys)["storage"]
    assert disk["checkpoint_bytes"] == 137_953_296_384
    assert disk["engine_bytes"] == 141_641_777_152
    assert disk["repository_bytes"] == 142_715_518_976
    assert disk["calibration_bytes"] == 0  # fp16 calibrates nothing
    assert (disk["download_size_limit"], disk["build_claim_size"]) == ("160Gi", "632Gi")


def test_calibrating_precisions_count_the_calibration_data(tmp_path, capsys):
    # int8_sq: 1-byte linear weights, and a calibration allowance of 4 GiB on the claim.
    disk = plan_json(tmp_path, capsys, "--quant", "int8_sq")["storage"]
    assert disk["calibration_bytes"] == 4 << 30
    (tmp_path / "kv").mkdir()
    assert plan_json(tmp_path / "kv", capsys, "--kv-dtype", "int8")["storage"]["calibration_bytes"] == 4 << 30


def test_text_output_names_the_values_to_set(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA2_70B))
    assert main(["plan", "--config", str(tmp_path), "--tp", "8"]) == 0
    out = capsys.readouterr().out
    assert "modelRepository.downloadSizeLimit=160Gi  persistence.perPod.size=160Gi" in out
    assert "engine-build claim (modelRepository.pvc) >= 632Gi" in out
    assert "tmpSizeLimit=4Gi" in out


def gib(quantity: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(Gi|Ti)", quantity).groups()
    return float(number) * (1024 if unit == "Ti" else 1)


def test_chart_defaults_hold_the_seventy_b_repository():
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert gib(values["modelRepository"]["downloadSizeLimit"]) >= 160
    assert gib(values["persistence"]["perPod"]["size"]) >= 160
