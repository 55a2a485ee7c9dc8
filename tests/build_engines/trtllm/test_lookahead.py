"""Lookahead decoding on the GPU path: the sizes TensorRT-LLM accepts, the build flags, and the
repository that runs them, refused wherever TensorRT-LLM would refuse it or run something else
(build_engines/trtllm/lookahead.py has the sources)."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_dirs import engine_manifest, write_engine_dir

from build_engines import model_config
from build_engines.trtllm import contract_check, recipes, repository
from build_engines.trtllm.__main__ import main
from build_engines.trtllm.engine_config import TrtllmEngineModel
from build_engines.trtllm.lookahead import LOOKAHEAD, Lookahead
from build_engines.trtllm.repository import GpuRepoRequest


@pytest.mark.parametrize(
    "sizes, draft",
    [
        ((7, 7, 7), 83),  # examples/lookahead/README.md's example
        ((4, 3, 4), 15),
        ((1, 1, 0), 0),
        ((2, 2, 0), 1),
    ],
)
def test_the_draft_each_size_needs(sizes, draft):
    assert Lookahead(*sizes).max_draft_len == draft


@pytest.mark.parametrize("sizes", [(2, 1, 0), (1, 1, 1), (0, 3, 4), (4, 0, 4), (4, 3, -1)])
def test_sizes_tensorrt_llm_refuses_are_refused(sizes):
    with pytest.raises(ValueError, match="not legal for TensorRT-LLM"):
        Lookahead(*sizes)


def test_parse_names_the_form():
    assert Lookahead.parse("4,3,4") == Lookahead(4, 3, 4)
    with pytest.raises(ValueError, match="W,N,G"):
        Lookahead.parse("4,3")


@pytest.mark.parametrize("gather", ["context", "all"])
def test_a_lookahead_engine_cannot_gather_context_logits(gather):
    with pytest.raises(ValueError, match="Gather context logits is not support with draft len > 0"):
        recipes.EngineBuildConfig(
            "fp16", Path("/c"), Path("/o"), gather_logits=gather, lookahead=Lookahead(4, 3, 4)
        )


def test_the_build_asks_for_the_draft_the_sizes_need():
    cfg = recipes.EngineBuildConfig(
        "fp16", Path("/c"), Path("/o"), gather_logits="generation", lookahead=Lookahead(7, 7, 7)
    )
    assert recipes.build(cfg)[-4:] == [
        "--speculative_decoding_mode",
        "lookahead_decoding",
        "--max_draft_len",
        "83",
    ]


def lookahead_engine(tmp_path, built=(4, 3, 4)):
    """A lookahead engine as trtllm-build leaves it: mode 8, max_draft_len, max_seq_len raised by it."""
    draft = Lookahead(*built).max_draft_len
    return write_engine_dir(
        tmp_path / "build" / "engine",
        max_seq_len=4096 + draft,
        build_extra={"speculative_decoding_mode": LOOKAHEAD, "max_draft_len": draft},
        manifest=engine_manifest(lookahead=list(built)),
    )


def plan(tmp_path, tokenizer_dir, h100, **req):
    request = GpuRepoRequest(
        engine_dir=tmp_path / "build", tokenizer_dir=tokenizer_dir, output=tmp_path / "repo", **req
    )
    return repository.plan_repo(request, env=h100)


def test_a_lookahead_engine_runs_the_sizes_it_was_built_for(tmp_path, tokenizer_dir, h100):
    lookahead_engine(tmp_path)
    result = plan(tmp_path, tokenizer_dir, h100)
    assert result.facts.max_seq_len == 4096  # what requests may use: trtllm-build's addition taken off
    params = result.model.parameters()
    assert (
        params["decoding_mode"],
        params["lookahead_window_size"],
        params["lookahead_ngram_size"],
        params["lookahead_verification_set_size"],
    ) == ("lookahead", 4, 3, 4)
    assert contract_check.check_engine_config(result.model.to_model_config()) == []
    smaller = plan(tmp_path, tokenizer_dir, h100, lookahead=Lookahead(2, 3, 2))  # 7 of the 15 draft tokens
    assert smaller.model.parameters()["lookahead_window_size"] == 2


@pytest.mark.parametrize(
    "engine, asked, message",
    [
        ("lookahead-no-sizes", None, "Lookahead decoding config must be provided"),
        ("plain", Lookahead(4, 3, 4), "built without speculative decoding"),
        ("lookahead", Lookahead(7, 7, 7), "needs 83 draft tokens per step, but .* max_draft_len 15"),
        ("draft-target", None, "speculative_decoding_mode 2 is not served"),
    ],
)
def test_what_tensorrt_llm_would_refuse_or_ignore_is_refused(
    tmp_path, tokenizer_dir, h100, engine, asked, message
):
    if engine == "plain":
        write_engine_dir(tmp_path / "build" / "engine")
    elif engine == "lookahead":
        lookahead_engine(tmp_path)
    else:
        mode = LOOKAHEAD if engine == "lookahead-no-sizes" else 2
        write_engine_dir(
            tmp_path / "build" / "engine",
            build_extra={"speculative_decoding_mode": mode, "max_draft_len": 15},
        )
    with pytest.raises(ValueError, match=message):
        plan(tmp_path, tokenizer_dir, h100, lookahead=asked)


def test_beam_search_is_refused_with_lookahead():
    with pytest.raises(ValueError, match="lookahead decoding needs beam width 1"):
        TrtllmEngineModel(engine_path="/e", max_beam_width=2, lookahead=Lookahead(4, 3, 4))


def test_the_contract_check_catches_a_lookahead_mode_without_its_sizes():
    config = TrtllmEngineModel(engine_path="/e").to_model_config()
    model_config.set_parameter(config, "decoding_mode", "lookahead")
    assert any(
        "lookahead_window_size, lookahead_ngram_size, lookahead_verification_set_size" in p
        for p in contract_check.check_engine_config(config)
    )
    model_config.set_parameter(config, "decoding_mode", "ngram")
    assert any("decoding_mode='ngram'" in p for p in contract_check.check_engine_config(config))


def test_dry_runs_print_the_draft_and_the_parameters(tmp_path, capsys):
    assert (
        main(
            [
                "engine",
                "--precision",
                "fp16",
                "--checkpoint",
                str(tmp_path),
                "--output",
                str(tmp_path / "o"),
                "--lookahead",
                "4,3,4",
                "--dry-run",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "--max_draft_len 15; trtllm-build raises max_seq_len to 4111" in out
    assert "--speculative_decoding_mode lookahead_decoding --max_draft_len 15" in out
    assert (
        main(
            [
                "gpu-repo",
                "--engine-dir",
                str(tmp_path / "none"),
                "--tokenizer-dir",
                str(tmp_path),
                "--output",
                str(tmp_path / "repo"),
                "--lookahead",
                "4,3,4",
                "--dry-run",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "# lookahead decoding (W, N, G) = (4, 3, 4): 15 draft tokens per step of the engine's 15" in out
    assert 'key: "decoding_mode"' in out and 'string_value: "lookahead"' in out
