#!/usr/bin/env python3
"""Throughput of `dapt vocab` and `dapt encode` against plain references, in one run.

Generates a desensitized-style corpus (examples/gen_corpus.rs: Zipf-distributed integer
ids, OPPO-like text lengths) of SIZE MB and another of twice that, then measures with
GNU time (wall seconds, peak RSS):

  dapt vocab            vs  Python collections.Counter over split lines
                        vs  LC_ALL=C tr | sort | uniq -c   (2 threads, 4 GB buffer)
  dapt encode (SIZE)    and dapt encode (2 x SIZE): peak RSS must not grow with the corpus

Run from the repository root:  python3 bench/vocab_encode.py [--size-mb 1024]
Targets (2-core machine): vocab >= 200 MB/s and >= 20x Python; encode >= 100 MB/s;
encode peak RSS the same for 1 GB and 2 GB.
"""
import argparse
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
DAPT = TARGET / "release" / "dapt"

PY_COUNTER = r"""
import sys
from collections import Counter
c = Counter()
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        a, b = line.rstrip("\n").split("\t")[:2]
        c.update(a.split())
        c.update(b.split())
print(len(c), sum(c.values()))
"""


def timed(cmd, shell=False):
    """Run cmd under GNU time; return (wall seconds, peak RSS MB, stdout)."""
    tfile = OUT / "time.txt"
    full = ["/usr/bin/time", "-f", "%e %M", "-o", str(tfile)]
    full += ["sh", "-c", cmd] if shell else cmd
    res = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        sys.exit(f"failed: {cmd}\n{res.stderr}")
    wall, rss_kb = tfile.read_text().split()
    return float(wall), int(rss_kb) / 1024, res.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--skip-sort", action="store_true", help="skip the sort | uniq reference")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--bin", "dapt", "--example", "gen_corpus"], check=True, cwd=ROOT)
    gen = TARGET / "release" / "examples" / "gen_corpus"
    small, big = OUT / f"corpus_{args.size_mb}.tsv", OUT / f"corpus_{2 * args.size_mb}.tsv"
    for path, mb, seed in [(small, args.size_mb, 1), (big, 2 * args.size_mb, 2)]:
        if not path.exists():
            subprocess.run([str(gen), str(path), str(mb), str(seed)], check=True)
    mb = small.stat().st_size / 1e6
    cores = os.cpu_count()
    print(f"corpus: {small.name} {mb:.0f} MB, {big.name} {big.stat().st_size / 1e6:.0f} MB; {cores} cores")

    vocab = OUT / "vocab"
    t_vocab, rss_vocab, _ = timed([str(DAPT), "vocab", "--input", str(small), "--out", str(vocab)])
    tokens = sum(int(l.split("\t")[1]) for l in (vocab / "counts.tsv").read_text().splitlines())
    t_py, rss_py, py_out = timed([sys.executable, "-c", PY_COUNTER, str(small)])
    distinct, py_tokens = map(int, py_out.split())
    assert py_tokens == tokens, f"token counts differ: dapt {tokens}, python {py_tokens}"
    rows = [("dapt vocab", t_vocab, rss_vocab), ("python Counter", t_py, rss_py)]
    if not args.skip_sort:
        sort_cmd = (f"cut -f1,2 {small} | LC_ALL=C tr '\\t ' '\\n\\n' | "
                    f"LC_ALL=C sort -S 4G --parallel={cores} | uniq -c | wc -l")
        t_sort, rss_sort, _ = timed(sort_cmd, shell=True)
        rows.append(("sort | uniq -c", t_sort, rss_sort))
    t_enc1, rss_enc1, _ = timed([str(DAPT), "encode", "--vocab", str(vocab), "--input", str(small),
                                 "--out", str(OUT / "small.shard")])
    mb2 = big.stat().st_size / 1e6
    t_enc2, rss_enc2, _ = timed([str(DAPT), "encode", "--vocab", str(vocab), "--input", str(big),
                                 "--out", str(OUT / "big.shard")])

    print(f"\n{'what':<22}{'seconds':>9}{'MB/s':>9}{'Mtok/s':>9}{'peak RSS MB':>13}")
    for name, t, rss in rows:
        print(f"{name:<22}{t:>9.2f}{mb / t:>9.1f}{tokens / t / 1e6:>9.2f}{rss:>13.0f}")
    print(f"{'dapt encode 1x':<22}{t_enc1:>9.2f}{mb / t_enc1:>9.1f}{tokens / t_enc1 / 1e6:>9.2f}{rss_enc1:>13.0f}")
    print(f"{'dapt encode 2x':<22}{t_enc2:>9.2f}{mb2 / t_enc2:>9.1f}{'':>9}{rss_enc2:>13.0f}")
    print(f"\ntokens {tokens}, distinct {distinct}")
    print(f"vocab speed-up vs Python Counter: {t_py / t_vocab:.1f}x (target >= 20x)")
    if not args.skip_sort:
        print(f"vocab speed-up vs sort | uniq -c: {t_sort / t_vocab:.1f}x")
    print(f"vocab throughput: {mb / t_vocab:.0f} MB/s (target >= 200); encode: {mb / t_enc1:.0f} MB/s (target >= 100)")
    print(f"encode peak RSS 2x / 1x corpus: {rss_enc2 / rss_enc1:.2f} (target: ~1.0)")


if __name__ == "__main__":
    main()
