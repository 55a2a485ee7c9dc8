"""The PyTorch-backend (LLM API) GPU path's assembly: the LLM's arguments as a typed config written to
engine/1/model.yaml (settings.py, speculative.py, model_yaml.py), the repository `gpu-repo --gpu-engine
pytorch` writes (repository.py), its emulated twin (emulated.py) and ModelOpt checkpoints (quantize.py)."""
