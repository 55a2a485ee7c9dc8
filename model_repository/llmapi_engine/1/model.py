"""Triton adapter for the PyTorch-backend GPU engine step: TensorRT-LLM's LLM API over token ids.

`gpu-repo --gpu-engine pytorch` copies this file into the repository's `engine/1/`, beside
`model.yaml` (the LLM's arguments, upstream's format) and `python_backend/`. Its config is the
`tensorrt_llm` model's (same inputs, outputs, dims, decoupled, dynamic batching), so clients and the
ensemble are unchanged; its parameters are python_backend/llmapi/config.py's LlmApiModelConfig.

  - load: parameters checked (unknown ones refused by name), model.yaml read (keys that are not
    LLM arguments of the pinned TensorRT-LLM refused by name), this instance's gpu_device_ids
    exported as CUDA_VISIBLE_DEVICES, then LLM(**model.yaml minus triton_config,
    skip_tokenizer_init=True);
  - per request: one generate_async call per batch row and sibling sequence, framed as the
    tensorrtllm backend frames them (python_backend/llmapi/framing.py); errors at submit are that
    request's error response; stop=true aborts the requests with the same request id; a cancelled
    client's requests are aborted every cancellation_check_period_ms; past max_queue_size +
    max_batch_size sequences held a request is refused as the C++ backend refuses it (admission.py);
  - LoRA (parameter lora_dir set; model.yaml's lora_config): a row's lora_name → LoRARequest(name,
    a stable id per adapter version, <lora_dir>/<name>) on its generate_async call; an adapter not
    in the directory is NOT_FOUND; lora_task_id / lora_weights / lora_config are refused by name;
  - metrics: the C++ backend's nv_trt_llm_* families from llm.get_stats() every
    stats_check_period_ms, the engine models' triton_llm_active_requests and
    triton_llm_requests_cancelled_total, and with LoRA the triton_llm_lora_* families
    (python_backend/llmapi/metrics.py).
Logic lives in python_backend/llmapi/, which unit-tests without Triton. Decoupled only.
"""

import json
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import triton_python_backend_utils as pb_utils

from python_backend.llmapi import launch
from python_backend.llmapi.config import LlmApiModelConfig
from python_backend.llmapi.frontend import LlmApiFrontend
from python_backend.llmapi.lora import Adapters
from python_backend.llmapi.metrics import EngineCounts, LoraCounters, StatsPoller, TrtLlmMetrics
from python_backend.triton_io import logs
from python_backend.triton_io.metrics import LoraMetrics
from python_backend.triton_io.requests import model_parameters
from python_backend.triton_io.stub_exit import exit_stub
from python_backend.triton_io.triton_api import PbRequest, PbResponses

log = logging.getLogger("triton_llm.llmapi")


class TritonPythonModel:
    def initialize(self, args):
        model_config = json.loads(args["model_config"])  # as Triton loaded it
        if not model_config.get("model_transaction_policy", {}).get("decoupled", False):
            raise pb_utils.TritonModelException(
                "the LLM-API engine model runs decoupled only (model_transaction_policy { decoupled: true })"
            )
        try:
            config = LlmApiModelConfig.from_parameters(model_parameters(args))
            version_dir = Path(args["model_repository"]) / args["model_version"]
            kwargs = launch.llm_kwargs(config.llm_config_file(version_dir))
            groups = model_config.get("instance_group", [])
            devices = launch.instance_devices(config, args["model_instance_name"], groups)
            max_loras = launch.max_loras(config, kwargs)
        except ValueError as exc:
            raise pb_utils.TritonModelException(str(exc)) from None
        logs.configure(config.log_level)
        if devices is not None:  # before the LLM (and CUDA) starts
            os.environ["CUDA_VISIBLE_DEVICES"] = launch.visible_devices(devices)
        import tensorrt_llm
        from tensorrt_llm.llmapi import GuidedDecodingParams, LoRARequest

        self.llm = tensorrt_llm.LLM(**kwargs)
        api = SimpleNamespace(
            SamplingParams=tensorrt_llm.SamplingParams,
            GuidedDecodingParams=GuidedDecodingParams,
            LoRARequest=LoRARequest,
        )
        lora = None
        if max_loras is not None:  # created once, here: a family is invalid once collected
            lora = LoraCounters(LoraMetrics(pb_utils), max_loras, lambda: self.frontend.running_adapters())
        self.frontend = LlmApiFrontend(
            self.llm,
            api,
            exclude_input_in_output=config.exclude_input_in_output,
            cancellation_check_period_ms=config.cancellation_check_period_ms,
            declared={output["name"] for output in model_config.get("output", [])},
            model_name=args["model_name"],
            responses=PbResponses(pb_utils),
            guided_decoding=launch.guided_decoding_on(kwargs),
            on_fatal=exit_stub(log),
            adapters=Adapters(config.lora_dir),
            lora_metrics=lora,
            max_queue_size=config.max_queue_size,
            max_batch_size=int(model_config.get("max_batch_size", 0)),  # model.yaml's, as assembled
        ).start()
        metrics = TrtLlmMetrics(pb_utils, args["model_name"], args["model_version"])
        engine = EngineCounts(pb_utils, args["model_name"], self.frontend.admission.counts)
        self.stats = StatsPoller(
            self.llm, metrics, config.stats_check_period_ms, self.frontend.in_flight, lora=lora, engine=engine
        ).start()

    def execute(self, requests):
        for request in requests:
            self.frontend.submit(PbRequest(pb_utils, request))
        return None

    def finalize(self):
        self.stats.stop()
        self.frontend.close()
        self.stats.close()
        self.llm.shutdown()
