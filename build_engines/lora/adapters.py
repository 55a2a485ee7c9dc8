"""Test adapters made here from the bundled model, never downloaded: PEFT LoRA directories
(adapter_config.json + adapter_model.safetensors) whose weights come from a seeded generator.

PEFT initialises lora_B to zeros (an untrained adapter changes nothing); these draw B as well, at a
scale that visibly changes greedy output, so each adapter has a checkable effect and the engine's
output can be held to PyTorch + PEFT with the adapter merged. The two test adapters differ in rank
and target modules, which exercises rank padding and untargeted modules. Same seed, same bytes:
the generator is torch's CPU one, fed explicitly, and nothing else is random.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ALL_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True, kw_only=True)
class AdapterRecipe:
    name: str  # the adapter's directory name (and the name a request uses)
    seed: int
    rank: int
    alpha: int
    target_modules: tuple[str, ...]
    b_std: float  # standard deviation of lora_B's entries (PEFT: 0)


TEST_ADAPTERS = (
    AdapterRecipe(name="test-lora-a", seed=1, rank=8, alpha=16, target_modules=ALL_MODULES, b_std=0.1),
    AdapterRecipe(
        name="test-lora-b",
        seed=2,
        rank=4,
        alpha=8,
        target_modules=("q_proj", "v_proj", "up_proj", "down_proj"),
        b_std=0.1,
    ),
)


def make_adapter(model, recipe: AdapterRecipe, output: Path) -> Path:
    """Wrap `model` (a transformers causal LM, left unchanged) with `recipe`'s LoRA and save it to
    output/<name>."""
    import torch
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=recipe.rank,
        lora_alpha=recipe.alpha,
        target_modules=list(recipe.target_modules),
        lora_dropout=0.0,
        bias="none",
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(recipe.seed)
    with torch.no_grad():
        for name, param in sorted(peft_model.named_parameters()):
            if "lora_A" in name:
                # PEFT's own bound for A (kaiming uniform, a=sqrt(5)): 1/sqrt(in features)
                bound = 1.0 / param.shape[1] ** 0.5
                param.copy_((torch.rand(param.shape, generator=generator) * 2 - 1) * bound)
            elif "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * recipe.b_std)
    path = output / recipe.name
    peft_model.save_pretrained(str(path))
    peft_model.unload()  # take the LoRA layers out again: the caller's model stays the base model
    return path


def load_base(checkpoint_dir: Path):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(checkpoint_dir), dtype=torch.float32).eval()


def make_test_adapters(checkpoint_dir: Path, output: Path, model=None) -> list[Path]:
    """TEST_ADAPTERS under `output`, from the checkpoint (or `model`, already loaded from it)."""
    output.mkdir(parents=True, exist_ok=True)
    model = model if model is not None else load_base(checkpoint_dir)
    return [make_adapter(model, recipe, output) for recipe in TEST_ADAPTERS]
