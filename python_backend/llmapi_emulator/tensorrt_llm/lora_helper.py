"""tensorrt_llm.lora_helper: where 1.2.1's LLM arguments import LoraConfig from (docs/upstream/
trtllm-llm-api.md c; the fields are the extract's, read at tensorrt_llm/lora_helper.py @037d4ba1)."""

from .llmapi.config_models import LoraConfig

__all__ = ["LoraConfig"]
