"""Check Triton configs against the `tensorrtllm` backend contract (python_backend/contract/trtllm_backend/).

check_engine_config: one `engine` ModelConfig, alone. check_ensemble_wiring: the ensemble,
preprocessing and postprocessing configs around it. Both return problems as sentences (empty: none).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tritonclient.grpc import model_config_pb2 as pb

from python_backend.contract import trtllm_backend as bc

FLAG_INPUTS = sorted({o.flag for o in bc.OUTPUTS.values() if o.flag})


def _dtype(value: int) -> str:
    return pb.DataType.Name(value)


def _shape(dims: tuple[int, ...] | None) -> str:
    return "none" if dims is None else str(list(dims))


def _reshape(tensor) -> tuple[int, ...] | None:
    return tuple(tensor.reshape.shape) if tensor.HasField("reshape") else None


_NUMBER_PREFIX = {
    "int": re.compile(r"\s*[+-]?\d"),
    "ints": re.compile(r"\s*[+-]?\d"),
    "float": re.compile(r"\s*[+-]?(\d|\.\d|inf|nan)", re.IGNORECASE),
}


def _parses(kind: str, value: str) -> bool:
    """Whether GetParameter<T> parses value: std::stoi/stof need a numeric prefix, bools one of
    BOOL_TRUE/FALSE."""
    if kind == "bool":
        return value in bc.BOOL_TRUE + bc.BOOL_FALSE
    pattern = _NUMBER_PREFIX.get(kind)
    return pattern is None or pattern.match(value) is not None


def _check_parameters(config: pb.ModelConfig) -> list[str]:
    problems = []
    params = {key: value.string_value for key, value in config.parameters.items()}
    for p in bc.REQUIRED_PARAMETERS:
        if p.name not in params:
            error = bc.LOAD_FAILURE.format(error=bc.MISSING_PARAMETER.format(name=p.name))
            problems.append(
                f'parameter {p.name} is missing: the model load fails with "{error}" ({p.sources[0]})'
            )
    model_type = params.get("gpt_model_type")
    if model_type is not None and model_type not in bc.GPT_MODEL_TYPES:
        problems.append(
            f"gpt_model_type={model_type!r}: the load fails with 'Invalid gpt_model_type. Must be "
            f"v1/inflight_batching/inflight_fused_batching.'"
        )
    backend = params.get("guided_decoding_backend", "")
    info = params.get("xgrammar_tokenizer_info_path", "")
    guided = not (
        bc.guided_decoding_off(backend, "guided_decoding_backend")
        or bc.guided_decoding_off(info, "xgrammar_tokenizer_info_path")
    )
    if guided and backend not in bc.GUIDED_DECODING_BACKENDS:
        problems.append(
            f"guided_decoding_backend={backend!r}: the load fails with 'Guided decoding is currently "
            f"supported with 'xgrammar' backend.'"
        )
    if not params.get("gpt_model_path") and not params.get("encoder_model_path"):
        problems.append(f'no gpt_model_path: the load fails with "{bc.NO_ENGINE_PATH}"')
    mode = params.get("decoding_mode")
    if mode is not None and mode not in bc.DECODING_MODES:
        problems.append(
            f"decoding_mode={mode!r}: the backend logs 'decoding_mode parameter is invalid or not "
            f"specified' and decodes with its default"
        )
    missing = [name for name in bc.LOOKAHEAD_PARAMETERS if name not in params]
    if mode == "lookahead" and missing:
        problems.append(
            f"decoding_mode lookahead without {', '.join(missing)}: the load fails with "
            f'"{bc.LOOKAHEAD_MISSING}"'
        )
    known = set(bc.PARAMETERS) | set(bc.TEMPLATE_ONLY_PARAMETERS)
    for key, value in sorted(params.items()):
        spec = bc.PARAMETERS.get(key)
        if key not in known:
            problems.append(f"parameter {key} is not one the backend reads (typo?)")
        elif spec is not None and spec.default is not bc.REQUIRED and not _parses(spec.kind, value):
            problems.append(
                f"parameter {key}={value!r} does not parse as {spec.kind}: the backend logs a warning "
                f"and silently uses its default ({spec.default!r})"
            )
    return problems


def _check_inputs(config: pb.ModelConfig) -> list[str]:
    problems = []
    declared = {t.name: t for t in config.input}
    for name in bc.REQUEST_NEEDS:
        if name not in declared:
            problems.append(f"input {name} is not declared: every decoder-only request fails without it")
    if "input_lengths" not in declared:
        problems.append(
            "input input_lengths is not declared: the template requires it, and a batch > 1 request "
            "fails without it ('input lengths tensor not provided')"
        )
    for name, tensor in declared.items():
        spec = bc.INPUTS.get(name)
        if spec is None:
            problems.append(f"input {name} is not an input of the tensorrtllm backend")
            continue
        got = (_dtype(tensor.data_type), tuple(tensor.dims), _reshape(tensor))
        if got[0] not in spec.dtypes or got[1:] != (spec.dims, spec.reshape):
            problems.append(
                f"input {name}: declared {got[0]} dims {list(got[1])} reshape {_shape(got[2])}, the "
                f"backend's is {'|'.join(spec.dtypes)} dims {list(spec.dims)} reshape {_shape(spec.reshape)}"
            )
        if tensor.optional and not spec.optional:
            problems.append(f"input {name} is optional here but the backend needs it in every request")
    return problems


def declared_outputs_problems(config: pb.ModelConfig, written: set[str], why: str) -> list[str]:
    declared = {o.name for o in config.output}
    return [
        f"output {name} is not declared but the backend writes it {why}: every such response becomes "
        f'the error "{bc.UNDECLARED_OUTPUT_ERROR.format(name=name, model=config.name)}"'
        for name in sorted(written - declared)
    ]


def _check_outputs(config: pb.ModelConfig) -> list[str]:
    problems = []
    for out in config.output:
        spec = bc.OUTPUTS.get(out.name)
        if spec is None:
            problems.append(f"output {out.name} is never written by the tensorrtllm backend")
        elif _dtype(out.data_type) not in spec.dtypes or tuple(out.dims) != spec.dims:
            problems.append(
                f"output {out.name}: declared {_dtype(out.data_type)} dims {list(out.dims)}, the "
                f"backend writes {'|'.join(spec.dtypes)} [1, {', '.join(map(str, spec.dims))}]"
            )
    declared_inputs = {t.name for t in config.input}
    # Outputs written without being requested by name: any client may set a declared flag input.
    flags = {flag: True for flag in FLAG_INPUTS if flag in declared_inputs}
    written = bc.outputs_written(flags, {"output_ids", "sequence_length"})
    problems += declared_outputs_problems(
        config, written, f"on every response (declared flag inputs: {', '.join(sorted(flags)) or 'none'})"
    )
    return problems


def check_engine_config(config: pb.ModelConfig, *, backend: str | None = "tensorrtllm") -> list[str]:
    """Problems the 1.2.x tensorrtllm backend would have with this `engine` config (empty list: none).

    backend=None skips the backend-name check (an emulator's config names its own backend).
    """
    problems = []
    if backend is not None and config.backend != backend:
        problems.append(f"backend is {config.backend!r}, not {backend!r}")
    if config.max_batch_size < 1:
        problems.append("max_batch_size must be >= 1: the backend splits requests along a batch dimension")
    return problems + _check_parameters(config) + _check_inputs(config) + _check_outputs(config)


def _compatible(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return len(a) == len(b) and all(x == y or -1 in (x, y) for x, y in zip(a, b, strict=True))


def check_ensemble_wiring(
    configs: Mapping[str, pb.ModelConfig], *, ensemble: str = "ensemble", engine: str = "engine"
) -> list[str]:
    """Every tensor the ensemble maps into or out of `engine` has the same dtype and dims at both ends,
    the engine's required inputs and output_ids/sequence_length are mapped, and every output the backend
    writes for the flags the ensemble can set is declared."""
    ens, eng = configs[ensemble], configs[engine]
    steps = list(ens.ensemble_scheduling.step)
    engine_steps = [s for s in steps if s.model_name == engine]
    if len(engine_steps) != 1:
        return [f"ensemble {ensemble} has {len(engine_steps)} steps running {engine}, expected 1"]
    step = engine_steps[0]
    # Where each ensemble tensor comes from / goes to: (model name, tensor config).
    produced = {t.name: (ensemble, t) for t in ens.input}
    consumed: dict[str, list[tuple[str, object]]] = {t.name: [(ensemble, t)] for t in ens.output}
    for s in steps:
        model = configs.get(s.model_name)
        if model is None:
            return [f"ensemble step {s.model_name} has no config"]
        outs, ins = {o.name: o for o in model.output}, {i.name: i for i in model.input}
        for key, tensor in s.output_map.items():
            if key in outs:
                produced[tensor] = (s.model_name, outs[key])
        for key, tensor in s.input_map.items():
            if key in ins and s is not step:
                consumed.setdefault(tensor, []).append((s.model_name, ins[key]))
    problems = []
    eng_in, eng_out = {i.name: i for i in eng.input}, {o.name: o for o in eng.output}

    def compare(side: str, name: str, mine, other_model: str, other) -> None:
        if other.data_type != mine.data_type or not _compatible(tuple(other.dims), tuple(mine.dims)):
            problems.append(
                f"{engine} {side} {name} is {_dtype(mine.data_type)} {list(mine.dims)} but {other_model} "
                f"{other.name} is {_dtype(other.data_type)} {list(other.dims)}"
            )

    for key, tensor in step.input_map.items():
        if key not in eng_in:
            problems.append(
                f"the ensemble maps {tensor} into {engine} input {key}, which {engine} does not declare"
            )
        elif tensor not in produced:
            problems.append(
                f"the ensemble maps {tensor} into {engine} input {key}, but nothing produces {tensor}"
            )
        else:
            compare("input", key, eng_in[key], *produced[tensor])
    for name, tensor in eng_in.items():
        if not tensor.optional and name not in step.input_map:
            problems.append(f"{engine} input {name} is required but the ensemble does not map it")
    for key, tensor in step.output_map.items():
        if key not in eng_out:
            problems.append(f"the ensemble maps {engine} output {key}, which {engine} does not declare")
            continue
        for model, other in consumed.get(tensor, []):
            compare("output", key, eng_out[key], model, other)
    try:
        flags = {flag: True for flag in FLAG_INPUTS if flag in step.input_map}
        written = bc.outputs_written(flags, set(step.output_map))
    except ValueError as err:
        return problems + [f'the ensemble\'s {engine} step: every response would be the error "{err}"']
    return problems + declared_outputs_problems(
        eng, written, f"for the ensemble's requests ({', '.join(sorted(flags))})"
    )
