"""Benchmarks: seqlayers vs plain PyTorch vs Keras 3 (torch, JAX, TensorFlow backends), side by side.

    python -m benchmarks [--workload W1] [--impl seqlayers] [--quick] [--out DIR]

Each implementation runs each workload in its own subprocess (``runner.py``) and prints one JSON
line (``timing.py``); the suite writes tables with ratios to plain PyTorch measured in the same run
(``report.py``) and a scaling study of W1 (``scaling.py``). Nothing here is imported by seqlayers,
and this package's modules import numpy only at the top, so the Keras JAX/TensorFlow subprocesses
(in ``.venv-bench``) can run them without torch.
"""
