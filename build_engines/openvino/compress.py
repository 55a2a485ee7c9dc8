"""INT8 weight compression of an OpenVINO FP32 export, run by the export environment's python
(environment.py, from export.py): nncf's compress_weights on the IR, as optimum-intel 2.2.0 applies an
OVWeightQuantizationConfig after its FP32 export (optimum/intel/openvino/quantization.py,
_weight_only_quantization), with the two knobs that `optimum-cli export openvino --weight-format int8`
has no option for (optimum/commands/export/openvino.py, prepare_wc_config):

- nodes kept in FP32 (nncf.IgnoredScope). The tied embedding is one constant read by the embedding
  Gather and the LM head MatMul; nncf compresses a shared weight at its first consumer
  (nncf/quantization/algorithms/weight_compression/algorithm.py, get_weight_compression_parameters),
  so keeping the head in FP32 takes both nodes.
- DYNAMIC_QUANTIZATION_GROUP_SIZE in the IR's runtime_options (optimum-intel's `dq_group_size`): the CPU
  plugin reads it when it compiles the model, in the gate and in the serving pipeline alike; 0 keeps
  the activations in f32 instead of quantizing them to int8 in groups of 32.

usage: python compress.py SOURCE_DIR OUT_DIR '<json: mode, ignored_patterns, dq_group_size>'
"""

import json
import shutil
import sys
from pathlib import Path

import nncf
import openvino as ov

MODEL = "openvino_model.xml"


def main(source: Path, out: Path, recipe: dict) -> None:
    model = ov.Core().read_model(source / MODEL)
    patterns = recipe["ignored_patterns"]
    compressed = nncf.compress_weights(
        model,
        mode=nncf.CompressWeightsMode(recipe["mode"]),
        ignored_scope=nncf.IgnoredScope(patterns=patterns) if patterns else None,
    )
    options = (
        compressed.get_rt_info("runtime_options").value if compressed.has_rt_info("runtime_options") else {}
    )
    # The FP32 export's "KV cache in f16" flag goes, as optimum-intel drops it from compressed models.
    if options.get("KV_CACHE_PRECISION") == "f16":
        options.pop("KV_CACHE_PRECISION")
        compressed.set_rt_info(options, "runtime_options")
    if recipe["dq_group_size"] is not None:
        compressed.set_rt_info(
            str(recipe["dq_group_size"]), ["runtime_options", "DYNAMIC_QUANTIZATION_GROUP_SIZE"]
        )
    out.mkdir(parents=True, exist_ok=True)
    ov.save_model(compressed, out / MODEL, compress_to_fp16=False)  # the kept layers stay FP32
    for path in source.iterdir():
        if path.is_file() and not path.name.startswith("openvino_model") and path.name != "manifest.json":
            shutil.copy2(path, out / path.name)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]))
