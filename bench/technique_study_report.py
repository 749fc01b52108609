#!/usr/bin/env python3
"""The table of one bench/technique_study.sh output dir: for each run (baseline, each
technique alone, the combination), over its seeds on the same folds: CV AUC (mean of the
5 folds), test AUC of the fold ensemble, each as mean +- std over seeds, the paired
difference to the baseline seed by seed, and the time in training steps relative to the
baseline.

    python3 bench/technique_study_report.py bench/out/techniques/lcqmc
"""
import json
import pathlib
import re
import statistics
import sys

from report_lib import baselines_line, mean_std, overlap_baselines

ORDER = ["base", "fgm", "pgd", "ema", "swa", "rdrop", "msd", "mean", "lld", "combo"]



def runs(out):
    found = {}
    for d in out.glob("ft-*-s*"):
        m = re.fullmatch(r"ft-(.+)-s(\d+)", d.name)
        if not m or not (d / "cv.json").exists() or not (d / "test-eval.jsonl").exists():
            continue
        folds = json.loads((d / "cv.json").read_text())["folds"]
        recs = [json.loads(l) for l in (d / "test-eval.jsonl").read_text().splitlines()
                if l.startswith("{")]
        ens = next(r for r in recs if r["model"] == "ensemble")
        # Seconds in training steps (evaluation excluded), summed over the folds.
        train = {}
        for line in (d / "metrics.jsonl").read_text().splitlines():
            r = json.loads(line)
            if "train_seconds" in r:
                train[r["fold"]] = max(train.get(r["fold"], 0.0), r["train_seconds"])
        # Binaries older than train_seconds: the run's wall time (evaluation included).
        wall = d / "wall_seconds"
        found.setdefault(m.group(1), {})[int(m.group(2))] = {
            "cv": statistics.fmean(f["auc"] for f in folds),
            "test": ens["auc"],
            "wall": sum(train.values()) or (float(wall.read_text()) if wall.exists() else None),
        }
    return found


def main():
    out = pathlib.Path(sys.argv[1])
    found = runs(out)
    base = found.get("base", {})
    print(f"{out.name}: CV AUC = mean over 5 folds; test AUC = fold ensemble on the test "
          "file; +- is the standard deviation over seeds; deltas are paired by seed; step "
          "time = seconds in training steps (evaluation excluded; whole-run wall time where the "
          "binary did not record them) relative to the baseline of the same seed, on a machine shared by other "
          "runs (bench/finetune_speed.sh measures it alone)")
    print("| run | seeds | CV AUC | CV delta vs base | test AUC | test delta vs base | step time vs base |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    names = [n for n in ORDER if n in found] + sorted(set(found) - set(ORDER))
    for name in names:
        by_seed = found[name]
        seeds = sorted(by_seed)
        cv = [by_seed[s]["cv"] for s in seeds]
        test = [by_seed[s]["test"] for s in seeds]
        paired = [s for s in seeds if s in base]
        d_cv = [by_seed[s]["cv"] - base[s]["cv"] for s in paired]
        d_test = [by_seed[s]["test"] - base[s]["test"] for s in paired]
        walls = [by_seed[s]["wall"] / base[s]["wall"] for s in paired
                 if by_seed[s]["wall"] and base[s]["wall"]]
        ratio = f"{statistics.fmean(walls):.2f}x" if walls else "-"
        sign = lambda xs: mean_std(xs).replace("0.", "+0.", 1) if xs and statistics.fmean(xs) >= 0 else mean_std(xs)
        print(f"| {name} | {' '.join(map(str, seeds))} | {mean_std(cv)} | "
              f"{sign(d_cv) if name != 'base' else ''} | {mean_std(test)} | "
              f"{sign(d_test) if name != 'base' else ''} | {ratio if name != 'base' else '1.00x'} |")
    folds = next(out.glob("ft-base-s*/folds.json"), None)
    if folds:
        assignment = json.loads(folds.read_text())["assignment"]
        train = out / "data" / "train.tsv"
        per_fold = [overlap_baselines(train, [i for i, f in enumerate(assignment) if f == k])
                    for k in sorted(set(assignment))]
        cv = {m: statistics.fmean(b[m] for b in per_fold) for m in per_fold[0]}
        print()
        print(baselines_line("CV, mean over the same folds", cv))
        print(baselines_line("test", overlap_baselines(out / "data" / "test.tsv")))


if __name__ == "__main__":
    main()
