"""`make quant-lab`: quality, speed and memory of every quantized variant in one run (__main__.py)."""
