#!/usr/bin/env python3
"""transformers inference over a pair TSV, for bench/adapt_speed.sh: every model dir given
(a fold ensemble) scores every pair under torch.inference_mode, batches of --batch-size in
input order, padding=True, truncation longest-first to --max-len; prints pairs/s and the
mean class-1 probability (to compare with dapt predict).

    python3 bench/adapt_speed.py --input test.tsv --threads 1 DIR [DIR...]
"""
import argparse
import time

import torch
from transformers import BertForSequenceClassification, BertTokenizerFast


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--input", required=True)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pairs = [l.rstrip("\n").split("\t")[:2] for l in open(args.input, encoding="utf-8") if l.strip()]
    start = time.perf_counter()
    total = [0.0] * len(pairs)
    for d in args.models:
        tok = BertTokenizerFast.from_pretrained(d)
        model = BertForSequenceClassification.from_pretrained(d).eval()
        with torch.inference_mode():
            for i in range(0, len(pairs), args.batch_size):
                rows = pairs[i:i + args.batch_size]
                enc = tok([a for a, _ in rows], [b for _, b in rows], truncation="longest_first",
                          max_length=args.max_len, padding=True, return_tensors="pt")
                p = torch.softmax(model(**enc).logits, -1)[:, 1].tolist()
                for j, x in enumerate(p):
                    total[i + j] += x / len(args.models)
    secs = time.perf_counter() - start
    print(f"transformers {len(args.models)} models: {len(pairs) / secs:.1f} pairs/s "
          f"({secs:.1f} s), mean p1 {sum(total) / len(total):.6f}")


if __name__ == "__main__":
    main()
