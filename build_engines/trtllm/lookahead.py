"""Lookahead decoding on the GPU path: TensorRT-LLM 1.2's own speculative decoding for one engine.

No draft model and no orchestration: the engine guesses and verifies n-grams itself, configured by
three sizes (window W, n-gram N, verification set G). The engine is built for the largest draft
(`--speculative_decoding_mode lookahead_decoding --max_draft_len D`) and the `tensorrtllm` model
is told the sizes it runs with (`decoding_mode: lookahead` and the three `lookahead_*`
parameters). Each fact below names its 1.2-era source:

- sizes legal when N >= 1, W >= 1, G >= 0, and N == 1 implies W == 1 and G == 0; the draft they
  need is D = (0 if N == 1 else N - 2) + (W - 1 + G) * (N - 1): LookaheadDecodingConfig::isLegal and
  calculateSpeculativeResourceTuple, cpp/tensorrt_llm/executor/decodingConfig.cpp of
  NVIDIA/TensorRT-LLM at 0371ba0f36bc6bef9766df5cac0f478af12dea5f.
- the executor refuses sizes needing more draft tokens than the engine was built for
  (setupSpeculativeDecodingModule, TLLM_CHECK), and a lookahead engine without sizes ("Lookahead
  decoding config must be provided"); on another engine it replaces decoding_mode lookahead by its
  default with a warning only (getDecodingMode): cpp/tensorrt_llm/batch_manager/
  trtGptModelInflightBatching.cpp and createNewDecoderRequests.cpp at
  b35ac1b64368513d215c57d2ed01d62d910df8da. Every speculative mode needs beam width 1 (same files).
- trtllm-build takes `--speculative_decoding_mode lookahead_decoding` and `--max_draft_len`,
  refuses gathered context logits with a draft ("Gather context logits is not support with draft
  len > 0"), and adds max_draft_len to max_seq_len (the generated-token limit stays the same):
  tensorrt_llm/commands/build.py parse_arguments / main() and tensorrt_llm/builder.py build() at
  008b2b8d23af95e4e19fa6f354f9c5f6349b2bfc.
- config.json records the mode as SpeculativeDecodingMode's integer, LOOKAHEAD_DECODING = 8
  (tensorrt_llm/models/modeling_utils.py at 0c8de69a1ca6213eebb20a51873890ff128666c2).
- the backend reads the three sizes only with decoding_mode "lookahead", and fails the load without
  them: getExecutorConfigFromParams, triton_backend/inflight_batcher_llm/src/model_instance_state.cc
  (backend_contract.LOOKAHEAD_PARAMETERS).
"""

from __future__ import annotations

from dataclasses import dataclass

BUILD_MODE = "lookahead_decoding"  # trtllm-build --speculative_decoding_mode
# SpeculativeDecodingMode in config.json's build_config
NO_SPECULATION = 1
LOOKAHEAD = 8
DECODING_MODE = "lookahead"  # the tensorrtllm model's decoding_mode parameter


@dataclass(frozen=True)
class Lookahead:
    window: int  # W: lookahead window
    ngram: int  # N: n-gram size
    verification_set: int  # G: n-grams verified per step

    def __post_init__(self) -> None:
        w = self.window
        n = self.ngram
        g = self.verification_set
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (w, n, g)):
            raise ValueError(f"lookahead sizes must be integers, got {(w, n, g)}")
        if n < 1 or w < 1 or g < 0 or (n == 1 and (w != 1 or g != 0)):
            raise ValueError(
                f"lookahead (W, N, G) = {(w, n, g)} is not legal for TensorRT-LLM: N >= 1, W >= 1, "
                "G >= 0, and N = 1 needs W = 1 and G = 0"
            )

    @classmethod
    def parse(cls, text: str) -> Lookahead:
        """ "W,N,G" (the command line's form)."""
        try:
            window, ngram, verification_set = (int(part) for part in text.split(","))
        except ValueError:
            raise ValueError(f"lookahead takes W,N,G (three integers), got {text!r}") from None
        return cls(window, ngram, verification_set)

    @property
    def max_draft_len(self) -> int:
        """Draft tokens these sizes need per step: the engine's --max_draft_len must be at least this."""
        first = 0 if self.ngram == 1 else self.ngram - 2
        return first + (self.window - 1 + self.verification_set) * (self.ngram - 1)

    def build_flags(self) -> list[str]:
        return ["--speculative_decoding_mode", BUILD_MODE, "--max_draft_len", str(self.max_draft_len)]

    def parameters(self) -> dict[str, object]:
        """The tensorrtllm model's parameters that run these sizes."""
        return {
            "decoding_mode": DECODING_MODE,
            "lookahead_window_size": self.window,
            "lookahead_ngram_size": self.ngram,
            "lookahead_verification_set_size": self.verification_set,
        }

    def as_list(self) -> list[int]:
        return [self.window, self.ngram, self.verification_set]


def check_serves(engine_mode: int, engine_max_draft_len: int, asked: Lookahead | None, source: str) -> None:
    """Refuse what the executor would refuse at load, or silently run differently from the config."""
    if engine_mode not in (NO_SPECULATION, LOOKAHEAD):
        raise ValueError(
            f"{source}: speculative_decoding_mode {engine_mode} is not served by this project "
            f"(lookahead only, {LOOKAHEAD}); rebuild the engine"
        )
    if engine_mode == LOOKAHEAD and asked is None:
        raise ValueError(
            f"{source} is a lookahead engine: give its sizes (--lookahead W,N,G); TensorRT-LLM "
            'refuses it without them ("Lookahead decoding config must be provided")'
        )
    if engine_mode == NO_SPECULATION and asked is not None:
        raise ValueError(
            f"lookahead {asked.as_list()} asked, but {source} was built without speculative decoding "
            "(TensorRT-LLM would run it without lookahead, with a warning only); rebuild it with "
            f"--lookahead or drop the option"
        )
    if asked is not None and asked.max_draft_len > engine_max_draft_len:
        raise ValueError(
            f"lookahead {asked.as_list()} needs {asked.max_draft_len} draft tokens per step, but "
            f"{source} was built with max_draft_len {engine_max_draft_len}; TensorRT-LLM refuses it "
            "at load"
        )
