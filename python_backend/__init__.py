"""Code the Python-backend models run: tokenizer, incremental detokenizer, the CPU engine, metrics.

Nothing here imports `triton_python_backend_utils`: the `model.py` adapters under
`model_repository/` translate Triton tensors into these plain objects, so everything in this
package unit-tests without a server.
"""
