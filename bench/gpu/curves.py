#!/usr/bin/env python3
"""Compare the training-loss curves of two dapt runs (their metrics.jsonl), step by
step: prints the worst relative difference and the first and last losses of each.

  python3 bench/gpu/curves.py RUN_A RUN_B LABEL
"""
import json
import sys


def losses(run):
    recs = [json.loads(l) for l in open(f"{run}/metrics.jsonl")]
    return {r["step"]: r["loss"] for r in recs if "loss" in r and "step" in r}


a, b, label = losses(sys.argv[1]), losses(sys.argv[2]), sys.argv[3]
steps = sorted(set(a) & set(b))
if not steps:
    sys.exit(f"{label}: no common logged steps")
worst = max(abs(a[s] - b[s]) / abs(a[s]) for s in steps)
print(f"{label}: {len(steps)} logged steps, worst relative loss difference {worst:.3e}; "
      f"A {a[steps[0]]:.4f} -> {a[steps[-1]]:.4f}, B {b[steps[0]]:.4f} -> {b[steps[-1]]:.4f}")
