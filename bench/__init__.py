"""`make bench`: throughput and latency of every serving path, measured side by side in one run."""
