"""The CPU peers `make bench PEERS=1` measures beside our server, on the same model, prompts,
output length and concurrency: llama.cpp's llama-server (llamacpp.py) and OpenVINO GenAI's
continuous-batching pipeline (openvino_peer.py). Each is built or installed once under
artifacts/peers/, never into the project's own environment."""
