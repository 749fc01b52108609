#!/usr/bin/env python3
"""The table of bench/overlap_study.sh (issue #16, point 5): for each arm, CV AUC (mean of
5 folds) and test AUC (fold ensemble; for stacking, the second level fitted on all
training pairs), mean +- sample std over seeds, the paired difference to `base`, and
the word-overlap baselines on the same validation parts and on the test file.

    python3 bench/overlap_study_report.py lcqmc|bq|mrpc [bench/out/overlap]
"""
import json
import pathlib
import statistics
import sys

from report_lib import mean_std


def finetune_run(d):
    if not (d / "cv.json").exists() or not (d / "test-eval.jsonl").exists():
        return None
    cv = json.loads((d / "cv.json").read_text())
    rows = [json.loads(l) for l in (d / "test-eval.jsonl").read_text().splitlines() if l]
    test = next(r for r in rows if r["model"] == "ensemble")["auc"]
    return {"cv": cv["mean"]["auc"], "test": test, "cv_json": cv, "eval": rows}


def stack_run(d, learner):
    if not (d / "stack.json").exists():
        return None
    s = json.loads((d / "stack.json").read_text())
    r = next(x for x in s["learners"] if x["name"] == learner)
    return {"cv": r["cv"], "test": r["test"]}


def main():
    ds = sys.argv[1]
    out = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "bench/out/overlap") / ds
    arms = {
        "base": lambda s: finetune_run(out / f"ft-base-s{s}"),
        "+match embedding": lambda s: finetune_run(out / f"ft-match-s{s}"),
        "+overlap-aware pretraining (boost 3)": lambda s: finetune_run(out / f"ft-boost-s{s}"),
        "+stacking (logistic)": lambda s: stack_run(out / f"stack-s{s}", "logistic"),
        "+stacking (gbt)": lambda s: stack_run(out / f"stack-s{s}", "gbt"),
        "all: boost + match (fine-tuned)": lambda s: finetune_run(out / f"ft-all-s{s}"),
        "all + stacking (logistic)": lambda s: stack_run(out / f"stack-all-s{s}", "logistic"),
        "all + stacking (gbt)": lambda s: stack_run(out / f"stack-all-s{s}", "gbt"),
    }
    seeds = [1, 2, 3]
    base = {s: arms["base"](s) for s in seeds}
    print(f"{ds}: CV AUC = mean over 5 folds (components, --fold-seed 1); test AUC of the fold "
          "ensemble or of the stacker; +- sample std over seeds; deltas paired by seed\n")
    print("| arm | seeds | CV AUC | test AUC | test delta vs base |")
    print("| --- | --- | --- | --- | --- |")
    for name, get in arms.items():
        runs = {s: get(s) for s in seeds}
        runs = {s: r for s, r in runs.items() if r}
        if not runs:
            continue
        deltas = [runs[s]["test"] - base[s]["test"] for s in runs if base.get(s)]
        delta = "" if name == "base" else mean_std(deltas)
        print(f"| {name} | {len(runs)} | {mean_std([r['cv'] for r in runs.values()])} | "
              f"{mean_std([r['test'] for r in runs.values()])} | {delta} |")
    b = next((r for r in base.values() if r), None)
    if b:
        cvb = b["cv_json"].get("baselines") or {}
        mean = cvb.get("mean", {})
        tests = {r["model"].split(":")[1]: r["auc"] for r in b["eval"] if r["model"].startswith("baseline:")}
        print()
        for m in ("jaccard", "overlap", "edit"):
            print(f"- baseline {m}: CV {mean.get(m, float('nan')):.4f}, test {tests.get(m, float('nan')):.4f}")


if __name__ == "__main__":
    main()
