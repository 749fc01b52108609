#!/usr/bin/env python3
"""Desensitize LCQMC the way the OPPO Xiaobu data was: every character becomes an
integer id, ids separated by single spaces, labels kept.

The map is a random bijection seeded by --seed over the characters of all input files
(sorted, so the same inputs and seed always give the same ids); ids start at 1 and
whitespace is dropped, as each character is one "word".

  python3 scripts/desensitize_lcqmc.py --seed 2021 --out-dir DIR \
      ../shared/data/lcqmc/dev.txt ../shared/data/lcqmc/test.txt
writes DIR/dev.tsv and DIR/test.tsv (`ids_a<TAB>ids_b<TAB>label`).
"""
import argparse
import pathlib
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+", type=pathlib.Path)
    ap.add_argument("--out-dir", type=pathlib.Path, required=True)
    ap.add_argument("--seed", type=int, default=2021)
    ap.add_argument("--head", type=int, default=0, help="keep only the first N lines of each file")
    args = ap.parse_args()
    rows = {}
    for f in args.files:
        lines = f.read_text(encoding="utf-8").splitlines()
        rows[f] = [l.split("\t") for l in (lines[: args.head] if args.head else lines)]
    # The map is built over the full files, so a --head sample uses the same ids.
    chars = sorted({c for f in args.files for l in f.read_text(encoding="utf-8").splitlines()
                    for c in "".join(l.split("\t")[:2]) if not c.isspace()})
    ids = list(range(1, len(chars) + 1))
    random.Random(args.seed).shuffle(ids)
    table = dict(zip(chars, ids))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for f, fields in rows.items():
        out = args.out_dir / (f.stem + ".tsv")
        with out.open("w", encoding="utf-8") as w:
            for n, r in enumerate(fields, 1):
                if len(r) != 3:
                    raise SystemExit(f"{f}:{n}: expected 3 TAB-separated fields, got {len(r)}")
                a, b = (" ".join(str(table[c]) for c in t if not c.isspace()) for t in r[:2])
                w.write(f"{a}\t{b}\t{r[2]}\n")
        print(f"{out}: {len(fields)} pairs")
    print(f"{len(chars)} distinct characters, seed {args.seed}")


if __name__ == "__main__":
    main()
