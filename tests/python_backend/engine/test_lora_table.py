"""The engine's adapter table and PEFT reader, without a model: which adapters are refused (and
the message naming why), how PEFT's tensors land in the export's layout, LRU eviction of idle
adapters, and that a running adapter is never evicted or unloaded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from python_backend.engine.kv_cache import SlotAllocator
from python_backend.engine.lora import AdapterInUseError, AdapterTable
from python_backend.engine.lora_weights import Adapter, AdapterError, LoraSpec, read_adapter

SPEC = LoraSpec(
    base_model="tiny-llama",
    num_layers=2,
    modules={"q_proj": (4, 4), "v_proj": (4, 2), "down_proj": (6, 4)},
)


def make_adapter(
    path: Path,
    rank: int = 2,
    alpha: int = 4,
    modules: dict[str, tuple[int, int]] | None = None,
    seed: int = 0,
    **config,
) -> Path:
    """A PEFT-layout adapter directory: every layer of `modules` (name → (in, out)), seeded."""
    rng = np.random.default_rng(seed)
    modules = modules or {"q_proj": (4, 4), "down_proj": (6, 4)}
    tensors = {}
    for layer in range(SPEC.num_layers):
        for module, (features_in, features_out) in modules.items():
            folder = "mlp" if module == "down_proj" else "self_attn"
            key = f"base_model.model.model.layers.{layer}.{folder}.{module}"
            tensors[f"{key}.lora_A.weight"] = rng.standard_normal((rank, features_in)).astype(np.float32)
            tensors[f"{key}.lora_B.weight"] = rng.standard_normal((features_out, rank)).astype(np.float32)
    path.mkdir(parents=True)
    save_file(tensors, str(path / "adapter_model.safetensors"))
    content = {
        "peft_type": "LORA",
        "r": rank,
        "lora_alpha": alpha,
        "target_modules": sorted(modules),
        "base_model_name_or_path": "org/Tiny-Llama",
        "bias": "none",
        "use_dora": False,
        **config,
    }
    (path / "adapter_config.json").write_text(json.dumps(content))
    return path


def test_peft_tensors_land_transposed_with_scaling_folded_into_b(tmp_path):
    path = make_adapter(tmp_path / "a", rank=2, alpha=6)
    adapter = read_adapter("a", path, SPEC, max_rank=8)
    from safetensors.numpy import load_file

    raw = load_file(str(path / "adapter_model.safetensors"))
    a = raw["base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"]
    b = raw["base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"]
    # x @ A.T @ (scaling * B.T) is PEFT's delta for a row vector x; scaling = alpha / r = 3.
    assert np.array_equal(adapter.a["q_proj"][1], a.T)
    assert np.allclose(adapter.b["q_proj"][1], 3.0 * b.T)
    # v_proj is not targeted: zeros, so the export adds nothing there.
    assert not adapter.a["v_proj"].any() and not adapter.b["v_proj"].any()


def test_rslora_scaling(tmp_path):
    path = make_adapter(tmp_path / "a", rank=4, alpha=8, use_rslora=True)
    adapter = read_adapter("a", path, SPEC, max_rank=8)
    raw_b = read_adapter("plain", make_adapter(tmp_path / "p", rank=4, alpha=4), SPEC, max_rank=8).b
    # rsLoRA: alpha / sqrt(r) = 4; the same seed draws the same B, plain scaling alpha / r = 1.
    assert np.allclose(adapter.b["down_proj"], 4.0 * raw_b["down_proj"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rank": 16}, "adapter 'bad': rank 16 > this engine's max_lora_rank 8"),
        (
            {"modules": {"q_proj": (4, 4), "o_proj": (4, 4)}},
            r"adapter 'bad': target modules \['o_proj'\] are not in this export",
        ),
        (
            {"base_model_name_or_path": "meta-llama/Llama-3-8B"},
            "adapter 'bad': base model 'meta-llama/Llama-3-8B' is not this engine's 'tiny-llama'",
        ),
        (
            {"modules": {"q_proj": (8, 4)}},
            r"q_proj.lora_A.weight has shape \[2, 8\], the base model needs \[2, 4\]",
        ),
        ({"use_dora": True}, "adapter 'bad': use_dora=True is not supported"),
        ({"peft_type": "IA3"}, "adapter 'bad': peft_type 'IA3' is not LORA"),
    ],
)
def test_adapters_that_do_not_fit_are_refused_by_name(tmp_path, kwargs, message):
    path = make_adapter(tmp_path / "bad", **kwargs)
    with pytest.raises(AdapterError, match=message):
        read_adapter("bad", path, SPEC, max_rank=8)


def test_a_directory_without_peft_files_is_refused(tmp_path):
    with pytest.raises(AdapterError, match="has no adapter_config.json and adapter_model.safetensors"):
        read_adapter("empty", tmp_path, SPEC, max_rank=8)


def test_lru_eviction_spares_running_adapters(tmp_path):
    table = AdapterTable(SPEC, max_loras=2, max_lora_rank=4)
    for seed, name in enumerate(("a", "b", "c")):
        table.register(name, make_adapter(tmp_path / name, seed=seed))
    assert table.acquire("a") == 1 and table.acquire("b") == 2
    table.release("a")
    table.acquire("b")  # b is now the most recent; a is idle
    # c needs a slot: a is the least recently used idle one, b runs.
    assert table.acquire("c") == 1 and table.resident == ["b", "c"] and table.evictions == 1
    # Packed by slot, each at its own rank 2 (not max_lora_rank 4): slot 1 (c) then slot 2 (b).
    c = read_adapter("c", tmp_path / "c", SPEC, max_rank=4)
    assert table.columns == 4 and np.array_equal(table.a["q_proj"][:, :, :2], c.a["q_proj"])
    assert np.array_equal(table.mask([0, 1, 2])[:, 0], [[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]])
    # Every slot's adapter runs: a must wait (None), nothing is evicted.
    assert table.acquire("a") is None and table.evictions == 1
    with pytest.raises(AdapterInUseError, match="adapter 'c' is in use by 1 running sequences"):
        table.unregister("c")
    table.release("c")
    version = table.version
    assert table.unregister("c") is True and table.resident == ["b"]
    assert table.version == version  # unregistering never moves the stacks (the runner may read them)
    assert table.acquire("a") == 1 and table.loads == 4 and table.version == version + 1


def test_registering_again_changes_the_prefix_cache_tag(tmp_path):
    table = AdapterTable(SPEC, max_loras=1, max_lora_rank=4)
    table.register("a", make_adapter(tmp_path / "a1"))
    first = table.tag("a")
    table.register("a", make_adapter(tmp_path / "a2", seed=5))
    assert table.tag("a") != first


def test_prefix_reuse_only_under_the_same_tag():
    slots = SlotAllocator(num_slots=2, min_prefix_reuse=2)
    prompt = list(range(10))
    first = slots.allocate(prompt, tag=None)
    slots.record(first.slot, prompt, len(prompt))
    # Another adapter's sequence with the same prompt computes its own KV ...
    assert slots.allocate(prompt, tag="a#1").reused_tokens == 0
    slots.free(first.slot)
    # ... while a base-model one reuses the base entries (up to the last prompt token).
    assert slots.allocate(prompt, tag=None).reused_tokens == 9


def test_an_engine_without_slots_refuses_adapters(tmp_path):
    table = AdapterTable(SPEC, max_loras=0, max_lora_rank=4)
    with pytest.raises(AdapterError, match="this engine holds no adapters \\(max_loras is 0\\)"):
        table.register("a", make_adapter(tmp_path / "a"))


def test_the_mask_and_bindings_follow_the_export_layout(tmp_path):
    table = AdapterTable(SPEC, max_loras=3, max_lora_rank=3)
    # Nothing resident: one zero column, so the inputs are never zero-sized.
    assert table.columns == 1 and not table.a["q_proj"].any()
    table.register("a", make_adapter(tmp_path / "a", rank=2))
    table.register("b", make_adapter(tmp_path / "b", rank=3, seed=1))
    assert table.acquire("b") == 1 and table.acquire("a") == 2
    # Columns are the resident ranks side by side in slot order: [slot 1: b, 3 | slot 2: a, 2];
    # a row keeps only its slot's, a row without an adapter (slot 0) none.
    mask = table.mask([0, 2, 1])
    assert mask.shape == (3, 1, 5)
    assert mask[0].sum() == 0 and mask[1, 0].tolist() == [0, 0, 0, 1, 1]
    assert mask[2, 0].tolist() == [1, 1, 1, 0, 0]
    binds = {name: (shape, array) for name, shape, array in table.bindings()}
    assert len(binds) == 2 * 3 * SPEC.num_layers
    shape, a = binds["lora_a.1.q_proj"]
    assert shape == [4, 5] and a.flags.c_contiguous
    # The bound view is the stack itself: layer 1's A of slot 2 sits in columns 3..4 of that view.
    adapter = read_adapter("a", tmp_path / "a", SPEC, max_rank=3)
    assert np.array_equal(a.reshape(4, 5)[:, 3:5], adapter.a["q_proj"][1])
    shape, b = binds["lora_b.0.down_proj"]
    assert shape == [5, 4] and np.array_equal(b.reshape(5, 4)[3:5], adapter.b["down_proj"][0])
    # Calls without any adapter bind one zero column per projection, whatever is resident.
    zeros = {name: (shape, array) for name, shape, array in table.zero_bindings()}
    assert zeros.keys() == binds.keys()
    assert zeros["lora_b.0.down_proj"][0] == [1, 4] and not zeros["lora_b.0.down_proj"][1].any()


def test_a_fused_branch_stacks_its_modules_block_diagonally(tmp_path):
    """q and v in one branch (as the export fuses q, k, v): A holds q's block of columns then v's,
    B is block diagonal, so x·A·(mask, mask)·B is [x·A_q·B_q | x·A_v·B_v], the fused output."""
    spec = LoraSpec(
        base_model=SPEC.base_model,
        num_layers=SPEC.num_layers,
        modules=SPEC.modules,
        branches={"qv": ("q_proj", "v_proj"), "down_proj": ("down_proj",)},
    )
    table = AdapterTable(spec, max_loras=2, max_lora_rank=4)
    table.register("a", make_adapter(tmp_path / "a", rank=2, modules={"q_proj": (4, 4), "v_proj": (4, 2)}))
    table.register(
        "b", make_adapter(tmp_path / "b", rank=3, seed=1, modules={"q_proj": (4, 4), "v_proj": (4, 2)})
    )
    assert table.acquire("a") == 1 and table.acquire("b") == 2
    binds = {name: (shape, array) for name, shape, array in table.bindings()}
    assert set(binds) == {f"lora_{s}.{i}.{b}" for s in "ab" for i in range(2) for b in ("qv", "down_proj")}
    shape, a = binds["lora_a.1.qv"]
    assert shape == [4, 10]  # 2 modules × 5 columns (ranks 2 + 3)
    shape, b = binds["lora_b.1.qv"]
    assert shape == [10, 6]  # out: q 4 + v 2
    x = np.random.default_rng(7).standard_normal((2, 4)).astype(np.float32)
    mask = table.mask([2, 0])[:, 0]  # row 0: adapter b; row 1: none
    delta = ((x @ a) * np.concatenate([mask, mask], axis=-1)) @ b
    adapter = read_adapter("b", tmp_path / "b", SPEC, max_rank=4)
    expected = np.concatenate(
        [x[0] @ adapter.a[m][1] @ adapter.b[m][1] for m in ("q_proj", "v_proj")], axis=-1
    )
    assert np.allclose(delta[0], expected, atol=1e-5) and not delta[1].any()
    assert {name: shape for name, shape, _ in table.zero_bindings()}["lora_b.0.qv"] == [2, 6]


def test_adapters_made_in_memory_are_checked_as_directories_are(tmp_path):
    table = AdapterTable(SPEC, max_loras=1, max_lora_rank=2)
    adapter = read_adapter("a", make_adapter(tmp_path / "a", rank=2), SPEC, max_rank=2)
    assert table.install(table.check(adapter)) is adapter and table.names == ["a"]
    wide = read_adapter("w", make_adapter(tmp_path / "w", rank=4), SPEC, max_rank=4)
    with pytest.raises(AdapterError, match="adapter 'w': rank 4 is not within 1..max_lora_rank 2"):
        table.check(wide)
    short = Adapter(
        name="s", path="", rank=2, a={**adapter.a, "v_proj": adapter.a["v_proj"][:1]}, b=adapter.b
    )
    with pytest.raises(AdapterError, match=r"adapter 's': v_proj A is \[1, 4, 2\], needs \[2, 4, 2\]"):
        table.check(short)
