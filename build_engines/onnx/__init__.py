"""CPU path: HF checkpoint → ONNX decoder (FP32 / INT8 / INT4, recipes.py) verified against PyTorch
→ the CPU repository.

recipes.py says what each variant asks the builder for, export.py runs the export, quality.py
measures it against PyTorch and fails a variant below its bars, repository.py adds our
Python-backend `engine` over the ONNX files to the shared models.
"""
