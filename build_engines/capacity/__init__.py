"""Capacity and cost before buying GPUs (docs/CAPACITY.md).

gpus.py (data sheets) → memory.py (the memory planner's figures) → roofline.py (the stated model, with
calibration.py's fitted factors) or aic.py (AIConfigurator, when installed) → predict.py (one layout's
curve) → layouts.py (operating point, replicas, best layout) → cost.py (price table, $/1M tokens,
break-even) → report.py (JSON, Markdown, plot, Helm values) → cli.py. measured.py prices what a load
test measured with the same arithmetic.
"""
