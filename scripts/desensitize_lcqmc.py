#!/usr/bin/env python3
"""Desensitize LCQMC the way the OPPO Xiaobu data was: every character becomes an integer id.

Each distinct character of the input files (over all of them together, so train and test
share one mapping) is mapped to an integer by a seeded random bijection; each text becomes
its characters' ids separated by spaces. Whitespace inside a text is dropped. Labels and
line order are kept, so the output is a dapt pair TSV (`ids_a<TAB>ids_b<TAB>label`) with
the same folds and the same answers as the original: the OPPO setting, with labels.

    python3 scripts/desensitize_lcqmc.py --input ../shared/data/lcqmc/dev.txt \
        ../shared/data/lcqmc/test.txt --out data/lcqmc-desensitized --seed 2021

Writes OUT/<name of each input> (e.g. dev.txt, test.txt). `--write-map FILE` also saves
the mapping (character<TAB>id), which is the key to undo it: keep it private.
Ids start at `--first-id` (default 1) and are a random permutation of first..first+N-1.
"""

import argparse
import os
import random
import sys


def read_pairs(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) not in (2, 3):
                sys.exit(f"{path}:{n}: expected text_a<TAB>text_b[<TAB>label], found {len(cols)} fields")
            rows.append(cols)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", nargs="+", required=True, help="LCQMC pair files (text_a, text_b, label)")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--seed", type=int, default=2021, help="seed of the random bijection")
    ap.add_argument("--first-id", type=int, default=1, help="smallest id used")
    ap.add_argument("--write-map", help="also write the character<TAB>id mapping here")
    args = ap.parse_args()

    files = [(p, read_pairs(p)) for p in args.input]
    chars = sorted({c for _, rows in files for r in rows for t in r[:2] for c in t if not c.isspace()})
    ids = list(range(args.first_id, args.first_id + len(chars)))
    random.Random(args.seed).shuffle(ids)
    mapping = dict(zip(chars, ids))

    os.makedirs(args.out, exist_ok=True)
    for path, rows in files:
        out_path = os.path.join(args.out, os.path.basename(path))
        with open(out_path, "w", encoding="utf-8") as f:
            for r in rows:
                texts = [" ".join(str(mapping[c]) for c in t if not c.isspace()) for t in r[:2]]
                f.write("\t".join(texts + r[2:]) + "\n")
        print(f"{path}: {len(rows)} pairs -> {out_path}", file=sys.stderr)
    if args.write_map:
        with open(args.write_map, "w", encoding="utf-8") as f:
            for c in chars:
                f.write(f"{c}\t{mapping[c]}\n")
    print(f"{len(chars)} distinct characters mapped (seed {args.seed})", file=sys.stderr)


if __name__ == "__main__":
    main()
