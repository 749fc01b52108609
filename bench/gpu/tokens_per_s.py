#!/usr/bin/env python3
"""Real (non-padding) tokens/s of a dapt run from its metrics.jsonl, over the steps
after the first record at step >= WARMUP (the timing bench/pretrain_compare.sh uses).

  python3 bench/gpu/tokens_per_s.py RUN [WARMUP]
"""
import json
import sys

recs = [json.loads(l) for l in open(f"{sys.argv[1]}/metrics.jsonl") if '"loss"' in l]
warmup = int(sys.argv[2]) if len(sys.argv) > 2 else 5
first = next(r for r in recs if r["step"] >= warmup)
end = recs[-1]
print(f"{(end['tokens_seen'] - first['tokens_seen']) / (end['train_seconds'] - first['train_seconds']):.1f}")
