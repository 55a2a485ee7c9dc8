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
from client.wire import ENSEMBLE_INPUTS, grpc_batch_inputs
from python_backend.text.tokenizer import TOKEN_ID_PADDING

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
    if spec.matrix:
        # TensorRT-LLM's lora_weights / lora_config: [rows, columns] per request, sent [1, rows,
        # columns]; a declared column count (lora_config's 3) is what every row must have.
        assert len(tensor.dims) == 2 and tensor.dims[0] == -1
        columns = tensor.dims[1] if tensor.dims[1] > 0 else 5
        assert spec.array([[sample] * columns] * 2).shape == (1, 2, columns)
        assert spec.array([[[sample] * columns]]).shape == (1, 1, columns)  # as the converter saves it
        return
    assert spec.array(sample).shape == (1, 1)
    assert list(tensor.dims) in ([1], [-1])
    if list(tensor.dims) == [-1]:
        assert spec.array([sample, sample]).shape == (1, 2)


def test_every_request_sends_the_inputs_the_ensemble_requires():
    # Inputs without `optional: true` must be in every request: Triton refuses one without them.
    required = {name for name, tensor in declared_inputs().items() if not tensor.optional}
    assert required == {"max_tokens"}
    # The prompt is text_input or input_token_ids (preprocessing refuses neither and both): optional
    # to Triton, and exactly one of them in every request.
    for request in (GenerateRequest("hi"), GenerateRequest("", prompt_token_ids=(1, 2))):
        sent = {k for k, v in request.inputs(stream=False).items() if v is not None}
        assert required <= sent
        assert len(sent & {"text_input", "input_token_ids"}) == 1


class _Grpc:
    """Records what tritonclient.grpc's InferInput would carry."""

    class InferInput:
        def __init__(self, name, shape, datatype):
            self.name, self.shape, self.datatype = name, shape, datatype

        def set_data_from_numpy(self, array):
            self.array = array


def test_a_batch_of_token_prompts_is_padded_as_preprocessing_reads_it():
    """client/wire.py fills a batch's short rows with the padding preprocessing drops."""
    assert ENSEMBLE_INPUTS["input_token_ids"].pad == TOKEN_ID_PADDING
    (tensor,) = grpc_batch_inputs(_Grpc, [{"input_token_ids": [1, 2, 3]}, {"input_token_ids": [4]}])
    assert tensor.array.tolist() == [[1, 2, 3], [4, TOKEN_ID_PADDING, TOKEN_ID_PADDING]]
    assert tensor.datatype == "INT32" and tensor.shape == [2, 3]
    # Other list inputs are not padded: a batch whose rows differ there is refused.
    with pytest.raises(ValueError, match="stop_words"):
        grpc_batch_inputs(_Grpc, [{"stop_words": ["a"]}, {"stop_words": ["a", "b"]}])


def test_logit_bias_is_sent_as_two_lists():
    request = GenerateRequest("hi", logit_bias={7: 2.5, 3: -100})
    inputs = request.inputs(stream=False)
    assert inputs["logit_bias_token_ids"] == [7, 3] and inputs["logit_bias_values"] == [2.5, -100]
    assert GenerateRequest("hi").inputs(stream=False)["logit_bias_token_ids"] is None


def test_an_adapter_is_sent_by_name_and_its_weights_only_when_asked_again():
    request = GenerateRequest("hi", lora_name="test-lora-a")
    assert request.inputs(stream=False)["lora_name"] == "test-lora-a"
    assert request.inputs(stream=False)["lora_send_weights"] is None
    assert request.with_weights().inputs(stream=False)["lora_send_weights"] is True
    # The base model sends neither (a weights flag without an adapter would mean nothing).
    base = GenerateRequest("hi").with_weights().inputs(stream=False)
    assert base["lora_name"] is None and base["lora_send_weights"] is None
