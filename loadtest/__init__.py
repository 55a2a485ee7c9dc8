"""Load tests for the triton-llm server: Locust users, genai-perf metrics, reports, deployment comparison."""
