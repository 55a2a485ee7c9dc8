import numpy as np
import pytest

from python_backend.contract.errors import InputError
from python_backend.triton_io import requests as req

# Also run under the NGC image's library versions (make test-image: transformers 4.57, xgrammar 0.1).
pytestmark = pytest.mark.image_libs


def getter(**tensors):
    return lambda name: tensors.get(name)


def test_sampling_params_from_trtllm_inputs():
    get = getter(
        temperature=np.array([[0.7]], np.float32),
        runtime_top_k=np.array([[40]], np.int32),
        runtime_top_p=np.array([[0.0]], np.float32),
        seed=np.array([[5]], np.uint64),
        stop_words_list=np.array([[[9, 8, 7], [2, 3, -1]]], np.int32),
    )
    params = req.sampling_params(get, max_tokens=10, end_id=2)
    assert params.temperature == pytest.approx(0.7) and params.top_k == 40
    assert params.top_p == 1.0  # TensorRT-LLM's "0 = unset"
    assert params.seed == 5 and params.end_ids == (2,) and params.stop_sequences == ((9, 8), (7,))


def test_errors_name_the_triton_input():
    with pytest.raises(InputError, match="^runtime_top_p: must be in"):
        req.sampling_params(getter(runtime_top_p=np.array([[1.5]], np.float32)), max_tokens=4, end_id=None)
    with pytest.raises(InputError, match="^request_output_len: must be >= 1"):
        req.sampling_params(getter(), max_tokens=0, end_id=None)
    with pytest.raises(InputError, match="temperature: must be a finite number"):
        req.scalar(getter(temperature=np.array([[np.nan]])), "temperature", float)
    with pytest.raises(InputError, match="text_input: not valid UTF-8"):
        req.scalar(getter(text_input=np.array([[b"\xff\xfe"]], dtype=object)), "text_input", str)
    with pytest.raises(InputError, match="max_tokens: required input is missing"):
        req.scalar(getter(), "max_tokens", int, required=True)


def test_request_parameters_are_refused_by_name():
    req.refuse_request_parameters("")
    req.refuse_request_parameters("{}")
    with pytest.raises(InputError, match="^temprature: not an input of this model"):
        req.refuse_request_parameters('{"temprature": 0.5, "typo2": 1}')
