#!/usr/bin/env python3
"""The tables of bench/align_study.sh (issue #15, point 2): the held-out MLM loss and
masked-token accuracy of each pretraining run by step (equal budgets), and, where
fine-tuning ran, CV AUC (mean of the folds run: all 5, or fold 0 with FT_FOLD=0) and test
AUC of the fold ensemble, mean +- std over seeds, with the word-overlap baselines' AUC.

    python3 bench/align_study_report.py [bench/out/align]
"""
import json
import pathlib
import re
import sys

from report_lib import baselines_line, mean_std, overlap_baselines

RUNS = ["special", "shared", "frequency", "none", "scratch"]



def main():
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out/align")
    curves = {}
    for run in RUNS:
        m = out / f"pretrain-{run}" / "metrics.jsonl"
        if m.exists():
            evals = [json.loads(l) for l in m.read_text().splitlines()]
            curves[run] = {e["step"]: e for e in evals if e.get("event") == "eval"}
    steps = sorted({s for c in curves.values() for s in c})
    if steps:
        print("Held-out MLM loss / masked-token accuracy by step:\n")
        print("| step | " + " | ".join(curves) + " |")
        print("| --- |" + " --- |" * len(curves))
        for s in steps:
            cells = [f"{c[s]['eval_loss']:.3f} / {c[s]['masked_accuracy']:.3f}" if s in c else "-"
                     for c in curves.values()]
            print(f"| {s} | " + " | ".join(cells) + " |")
        print()
    rows = []
    for run in RUNS:
        cv, test = [], []
        for d in sorted(out.glob(f"ft-{run}-s*")):
            recs = []
            if (d / "test-eval.jsonl").exists():
                recs = [json.loads(l) for l in (d / "test-eval.jsonl").read_text().splitlines() if l]
            if not any(r["model"] == "ensemble" for r in recs):
                continue  # not evaluated yet
            if (d / "cv.json").exists():
                cv.append(json.loads((d / "cv.json").read_text())["mean"]["auc"])
            else:
                results = [json.loads(r.read_text()) for r in d.glob("fold-*/result.json")]
                cv.append(sum(r["metrics"]["auc"] for r in results) / len(results))
            test.append(next(r for r in recs if r["model"] == "ensemble")["auc"])
        if cv:
            rows.append(f"| {run} | {len(cv)} | {mean_std(cv)} | {mean_std(test)} |")
    if rows:
        print("| run | seeds | CV AUC | test AUC (fold ensemble) |\n| --- | --- | --- | --- |")
        print("\n".join(rows))
        ft = next(out.glob("ft-*-s1"))
        assignment = json.loads((ft / "folds.json").read_text())["assignment"]
        folds = sorted(int(r.parent.name.split("-")[1]) for r in ft.glob("fold-*/result.json"))
        valid = [i for i, k in enumerate(assignment) if k in folds]
        print()
        print(baselines_line(f"validation of folds {folds}", overlap_baselines(out / "data" / "train.tsv", valid)))
        print(baselines_line("test", overlap_baselines(out / "data" / "test.tsv")))


if __name__ == "__main__":
    main()
