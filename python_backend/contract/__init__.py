"""The request contract every edge shares: the error type and each request limit, stated once.

Preprocessing, the CPU engine, the OpenAI gateway and the batch job all call these, so a limit
and its message cannot drift apart between them. Nothing here imports Triton or numpy.
"""
