"""The clients' one table of the ensemble's inputs (client/wire.py ENSEMBLE_INPUTS) is the inputs
model_repository/ensemble/config.pbtxt declares: the same names, the same data types, tensors of
the declared dims, and every input the ensemble requires sent by every request. Two lists of the
same thing drift; this keeps them one rule."""

from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2
from tritonclient.utils import triton_to_np_dtype

from client.types import GenerateRequest
from client.wire import ENSEMBLE_INPUTS

CONFIG = Path(__file__).resolve().parents[2] / "model_repository" / "ensemble" / "config.pbtxt"


def declared_inputs() -> dict:
    config = model_config_pb2.ModelConfig()
    text_format.Parse(CONFIG.read_text(), config)
    return {tensor.name: tensor for tensor in config.input}


def triton_datatype(tensor) -> str:
    """TYPE_STRING → "BYTES", TYPE_INT32 → "INT32": the names tritonclient's requests carry."""
    name = model_config_pb2.DataType.Name(tensor.data_type).removeprefix("TYPE_")
    return "BYTES" if name == "STRING" else name


def test_the_table_names_exactly_the_declared_inputs():
    assert sorted(ENSEMBLE_INPUTS) == sorted(declared_inputs())


@pytest.mark.parametrize("name", sorted(declared_inputs()))
def test_each_input_has_the_declared_data_type_and_dims(name):
    tensor = declared_inputs()[name]
    spec = ENSEMBLE_INPUTS[name]
    assert spec.datatype == triton_datatype(tensor)
    # The numpy dtype the tensor is built from is the one tritonclient maps the datatype to
    # (BYTES → object).
    assert np.dtype(spec.dtype) == np.dtype(triton_to_np_dtype(spec.datatype))
    # One value is [batch 1, 1]; a list-valued input (dims [-1]) takes a list as [1, n]. A dims [1]
    # input given a list would be refused by Triton, so only [-1] inputs may be list-valued.
    sample = {"BYTES": "a", "BOOL": True}.get(spec.datatype, 1)
    assert spec.array(sample).shape == (1, 1)
    assert list(tensor.dims) in ([1], [-1])
    if list(tensor.dims) == [-1]:
        assert spec.array([sample, sample]).shape == (1, 2)


def test_every_request_sends_the_inputs_the_ensemble_requires():
    # Inputs without `optional: true` must be in every request: Triton refuses one without them.
    required = {name for name, tensor in declared_inputs().items() if not tensor.optional}
    assert required == {"text_input", "max_tokens"}
    sent = {k for k, v in GenerateRequest("hi").inputs(stream=False).items() if v is not None}
    assert required <= sent
