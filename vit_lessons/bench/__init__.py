"""Benchmarks: commands that measure, and write what they measured (with how) into assets/results/.

    python -m vit_lessons bench fashion-mnist-10min --seeds 0 1 2     # our recipe vs tintn's, 2 CPU cores
    python -m vit_lessons bench ablations --budget 120                # what each recipe ingredient is worth
    python -m vit_lessons bench gpu-fashion-mnist --budget 300        # GPU: 5 minutes, bf16, data on the GPU
    python -m vit_lessons bench cifar-epoch-time                      # CIFAR-10 recipe epoch time, synthetic data
    python -m vit_lessons bench cpu-kernels                           # attention kernels and AdamW on a CPU

Benchmarks are commands, never timed tests: their numbers depend on the machine and on
what else runs on it, so each output records the command, the machine, the torch
version and the load average before and after every run. One module per benchmark, each
named for it and offering its ``COMMANDS``; report.py (what they record and write), runs.py
(the training runs) and budgeted.py (what the same-budget races share: flags, reusing finished
runs, medians) are shared. Import a benchmark from its module:
``from vit_lessons.bench.ablations import ablations``.

Built in notebooks/06_training.
"""
