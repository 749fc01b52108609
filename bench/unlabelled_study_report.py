#!/usr/bin/env python3
"""The tables of bench/unlabelled_study.sh (issue #18, point 5): for each arm, CV AUC
(mean of 5 folds; the distilled student: its one held-out fold) and test AUC (the fold
ensemble's, or the student's), mean +- sample std over seeds and the paired difference
to the supervised run of the same setting; how many pseudo-labels each class got; the
cost of a UDA step next to a supervised one; prediction speed of the teacher ensemble
and of the student on the test pairs.

    python3 bench/unlabelled_study_report.py lcqmc|bq [bench/out/unlabelled]
"""
import json
import pathlib
import statistics
import sys

from report_lib import mean_std

SEEDS = [1, 2, 3]


def run(d):
    ev = d / "test-eval.jsonl"
    if not ev.exists() or not ev.read_text().strip():
        return None
    rows = [json.loads(l) for l in ev.read_text().splitlines() if l]
    test = next(r for r in rows if r["model"] == "ensemble")["auc"]
    if (d / "cv.json").exists():
        cv = json.loads((d / "cv.json").read_text())["mean"]["auc"]
    else:
        cv = json.loads((d / "fold-0" / "result.json").read_text())["metrics"]["auc"]
    return {"cv": cv, "test": test, "dir": d}


def seconds_per_step(d):
    """Mean training seconds per optimizer step over the folds (metrics.jsonl)."""
    last = {}
    for l in (d / "metrics.jsonl").read_text().splitlines():
        r = json.loads(l)
        if "train_seconds" in r:
            last[r["fold"]] = (r["step"], r["train_seconds"])
    return statistics.fmean(s / n for n, s in last.values())


def main():
    ds = sys.argv[1]
    out = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "bench/out/unlabelled") / ds
    groups = {
        "(a) few labels": [("few-sup", "supervised"), ("few-uda", "+ UDA (--tsa exp)"),
                           ("few-pseudo", "+ pseudo-labels (p >= 0.9)")],
        "(b) all labels, test pairs unlabelled": [
            ("all-sup", "supervised (5-fold ensemble, the teacher)"),
            ("all-pseudo", "+ pseudo-labels on the test pairs (p >= 0.9)"),
            ("all-distill", "one student distilled from the ensemble")],
    }
    for title, arms in groups.items():
        base = {s: run(out / f"{arms[0][0]}-s{s}") for s in SEEDS}
        print(f"\n{ds} {title}\n")
        print("| arm | seeds | CV AUC | test AUC | test delta vs supervised |")
        print("| --- | --- | --- | --- | --- |")
        for key, name in arms:
            runs = {s: run(out / f"{key}-s{s}") for s in SEEDS}
            runs = {s: r for s, r in runs.items() if r}
            if not runs:
                continue
            deltas = [runs[s]["test"] - base[s]["test"] for s in runs if base.get(s)]
            delta = "" if key == arms[0][0] else mean_std(deltas)
            print(f"| {name} | {len(runs)} | {mean_std([r['cv'] for r in runs.values()])} | "
                  f"{mean_std([r['test'] for r in runs.values()])} | {delta} |")
    for key in ("few-pseudo", "all-pseudo"):
        for s in SEEDS:
            p = out / f"{key}-s{s}" / "pseudo.json"
            if p.exists():
                r = json.loads(p.read_text())
                print(f"- {key} seed {s}: {sum(r['added_per_class'])} of {r['candidates']} "
                      f"pseudo-labelled, per class {r['added_per_class']}")
    ratios = []
    for s in SEEDS:
        sup, uda = out / f"few-sup-s{s}", out / f"few-uda-s{s}"
        if (sup / "metrics.jsonl").exists() and (uda / "metrics.jsonl").exists():
            ratios.append(seconds_per_step(uda) / seconds_per_step(sup))
    if ratios:
        print(f"- UDA step / supervised step (train seconds per step, same batch size): "
              + ", ".join(f"{r:.2f}x" for r in ratios))
    test_pairs = sum(1 for l in open(out / "data" / "test.tsv", encoding="utf-8") if l.strip())
    for s in SEEDS:
        t, st = out / f"all-sup-s{s}" / "predict-seconds", out / f"all-distill-s{s}" / "predict-seconds"
        if t.exists() and st.exists():
            a, b = float(t.read_text()), float(st.read_text())
            print(f"- predict {test_pairs} test pairs, seed {s}: teacher ensemble {a:.1f} s "
                  f"({test_pairs / a:.0f} pairs/s), student {b:.1f} s ({test_pairs / b:.0f} pairs/s), "
                  f"{a / b:.1f}x faster")


if __name__ == "__main__":
    main()
