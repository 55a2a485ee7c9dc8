"""The ensemble's sampling contract, stated once, and the explicit engine inputs that say it.

What a client's `temperature`, `top_k`, `top_p` and `seed` mean, on every engine:
- temperature 0 or absent: greedy (the most likely token at each step); top_k, top_p and seed
  change nothing.
- temperature > 0: sampling from the whole distribution at that temperature, unless top_k (> 0:
  the k most likely tokens) or top_p (< 1: the smallest set whose probability reaches p) narrow it.
  top_p 0 or absent means 1 (no narrowing), top_k 0 or absent means none.
- no seed: a fresh random seed per request, so identical requests differ.
- a seed: the same request with the same seed gives the same answer (sibling i of
  num_return_sequences draws with seed + i).

Engines read absent inputs differently: our CPU engine (temperature 0, top_p 1, a fresh seed) and
TensorRT-LLM (temperature 1.0, top_k 0 with top_p 0 meaning greedy, seed 0 or a generator seeded
with 0 at start: contract/trtllm_backend/sampling.py). So preprocessing never leaves one absent:
`engine_sampling` gives the four explicit values that mean the contract on both. Greedy is sent as
top_k 1, which both engines read as greedy whatever the temperature (TensorRT-LLM's sampling layers
take k = 1 as argmax; SamplingParams.greedy), with temperature 1.0 (TensorRT-LLM divides the
logits by it; 1.0 leaves them as they are).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .limits import SAMPLING_LIMITS

# The engine inputs (TensorRT-LLM's names) and their dtypes, as preprocessing outputs them.
ENGINE_INPUTS = {
    "temperature": "float32",
    "runtime_top_k": "int32",
    "runtime_top_p": "float32",
    "seed": "uint64",
}
SEED_BITS = 63  # a drawn seed fits int64 as well as uint64: every engine and client reads it


@dataclass(frozen=True)
class EngineSampling:
    """The explicit values sent to the engine (ENGINE_INPUTS' names: temperature, runtime_top_k,
    runtime_top_p, seed)."""

    temperature: float
    top_k: int
    top_p: float
    seed: int

    def inputs(self) -> dict[str, float | int]:
        return {
            "temperature": self.temperature,
            "runtime_top_k": self.top_k,
            "runtime_top_p": self.top_p,
            "seed": self.seed,
        }


def engine_sampling(
    temperature: float | None, top_k: int | None, top_p: float | None, seed: int | None
) -> EngineSampling:
    """The client's values (None: absent) → explicit engine values meaning the contract above.
    InputError names a value outside its range (contract/limits.py): checked here, because
    TensorRT-LLM reads some out-of-range values as another setting (a top_p <= 0 as absent)."""
    given = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "seed": seed}
    for name, value in given.items():
        if value is not None and not (name == "top_p" and value == 0.0):
            SAMPLING_LIMITS[name].check(name, value)
    drawn = secrets.randbits(SEED_BITS) if seed is None else seed
    if not temperature:
        return EngineSampling(temperature=1.0, top_k=1, top_p=1.0, seed=drawn)
    return EngineSampling(
        temperature=temperature,
        top_k=top_k or 0,
        top_p=1.0 if top_p is None or top_p == 0.0 else top_p,
        seed=drawn,
    )
