#!/usr/bin/env python3
"""The table of bench/adapt_study.sh (issue #15, point 1): for each arm (a: MiniLM ->
fine-tune, b: MiniLM -> continued MLM -> fine-tune, c: small preset from scratch, e: b
over the extended vocabulary) and
implementation (dapt, PyTorch/transformers), over the seeds on the same fold: validation
AUC/accuracy of the best checkpoint (fold 0 of 5), test AUC/accuracy of that checkpoint,
each as mean +- std over seeds (sample std), the paired b - a difference seed by seed, the
MLM curves of the continued pretraining, seconds per fine-tuning run and peak RSS.

    python3 bench/adapt_study_report.py [bench/out/adapt] [5fold]

With `5fold` (runs of FOLD=all): CV metrics are the mean over the 5 folds and the test
metrics those of the fold ensemble.
"""
import json
import pathlib
import re
import statistics
import sys

from report_lib import baselines_line, mean_std, overlap_baselines



def dapt_runs(out, tag):
    runs = {}
    for d in sorted((out / f"ft{tag}").glob("*-*")):
        arm, seed = d.name.split("-")
        if not (d / "test.json").exists() or not (d / "test.json").read_text().strip():
            continue
        if (d / "cv.json").exists():
            fold = json.loads((d / "cv.json").read_text())
            fold["metrics"] = fold["mean"]
        else:
            fold = json.loads((d / "fold-0" / "result.json").read_text())
        test = json.loads((d / "test.json").read_text())
        secs = float((d / "seconds").read_text()) if (d / "seconds").exists() else None
        runs.setdefault(arm, {})[int(seed)] = {
            "valid_auc": fold["metrics"]["auc"], "valid_acc": fold["metrics"]["accuracy"],
            "test_auc": test["auc"], "test_acc": test["accuracy"], "seconds": secs}
    return runs


def ref_runs(out, tag):
    runs = {}
    for arm in ["a", "b"]:
        # One file for all seeds ({arm}.json) or one per seed ({arm}-{seed}.json).
        for p in sorted((out / f"ref{tag}").glob(f"{arm}*.json")):
            r = json.loads(p.read_text())
            for seed, s in r["seeds"].items():
                folds = s["folds"]
                f = {m: statistics.fmean(x[m] for x in folds) for m in ("auc", "accuracy")}
                runs.setdefault(arm, {})[int(seed)] = {
                    "valid_auc": f["auc"], "valid_acc": f["accuracy"],
                    "test_auc": s["test"]["auc"], "test_acc": s["test"]["accuracy"],
                    "seconds": s["seconds"]}
    return runs


def rss(out):
    """Peak RSS in GB by kind of process (largest over the runs of that kind)."""
    kinds = {"dapt finetune": r"dapt finetune", "dapt pretrain": r"dapt pretrain",
             "dapt eval": r"dapt eval", "transformers fine-tuning (finetune_ref.py)": r"finetune_ref",
             "transformers MLM (adapt_mlm_ref.py)": r"adapt_mlm_ref"}
    peaks = {}
    for f in (out / "rss").glob("*.txt"):
        kb, cmd = f.read_text().split(" ", 1)
        for name, pat in kinds.items():
            if re.search(pat, cmd):
                peaks[name] = max(peaks.get(name, 0), int(kb) / 1e6)
    return peaks


def mlm_curves(out):
    lines = []
    m = out / "pretrain" / "metrics.jsonl"
    if m.exists():
        evals = [json.loads(l) for l in m.read_text().splitlines()]
        evals = [e for e in evals if "eval_loss" in e or "heldout_loss" in e]
        key = "eval_loss" if evals and "eval_loss" in evals[0] else "heldout_loss"
        pts = ", ".join(f"{e['step']}: {e[key]:.3f}" for e in evals)
        lines.append(f"- dapt held-out MLM loss by step: {pts}")
    log = out / "logs" / "ref-pretrain.log"
    if log.exists():
        pts = re.findall(r"step (\d+)/\d+ loss ([\d.]+)", log.read_text())
        lines.append("- transformers training MLM loss (one batch) by step: "
                     + ", ".join(f"{s}: {float(l):.3f}" for s, l in pts))
        tps = re.findall(r"ref_pretrain tokens/s ([\d.]+)", log.read_text())
        if tps:
            lines.append(f"- transformers MLM tokens/s (1 thread): {float(tps[0]):.0f}")
    plog = out / "logs" / "pretrain.log"
    if plog.exists():
        tps = re.findall(r"\((\d+) tok/s\)", plog.read_text())
        if tps:
            lines.append(f"- dapt MLM tokens/s (1 thread): {tps[-1]}")
    return lines


def main():
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out/adapt")
    tag = sys.argv[2] if len(sys.argv) > 2 else ""
    names = {"a": "(a) MiniLM -> fine-tune", "b": "(b) MiniLM -> MLM on task text -> fine-tune",
             "c": "(c) small preset, from scratch",
             "e": "(e) as (b), vocabulary extended (--extend --add 1000)"}
    table = ["| arm | impl | seeds | valid AUC | valid acc | test AUC | test acc | s/run |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    all_runs = {"dapt": dapt_runs(out, tag), "transformers": ref_runs(out, tag)}
    for arm in ["a", "b", "c", "e"]:
        for impl, runs in all_runs.items():
            r = runs.get(arm)
            if not r:
                continue
            col = lambda k: [x[k] for x in r.values() if x[k] is not None]
            secs = col("seconds")
            table.append(f"| {names[arm]} | {impl} | {len(r)} | {mean_std(col('valid_auc'))} | "
                         f"{mean_std(col('valid_acc'))} | {mean_std(col('test_auc'))} | "
                         f"{mean_std(col('test_acc'))} | {statistics.fmean(secs):.0f} |")
    print("\n".join(table))
    print()
    for impl, runs in all_runs.items():
        for hi, lo in [("b", "a"), ("e", "a"), ("e", "b")]:
            x, y = runs.get(hi, {}), runs.get(lo, {})
            seeds = sorted(set(x) & set(y))
            if seeds:
                d = [x[s]["test_auc"] - y[s]["test_auc"] for s in seeds]
                v = [x[s]["valid_auc"] - y[s]["valid_auc"] for s in seeds]
                print(f"- {impl}: ({hi}) - ({lo}) paired by seed {seeds}: test AUC "
                      + ", ".join(f"{z:+.4f}" for z in d) + "; valid AUC "
                      + ", ".join(f"{z:+.4f}" for z in v))
    # The study's copies of MRPC, or the shared originals when reading the archive.
    data = out / "data"
    train, test = data / "train.tsv", data / "test.tsv"
    if not train.exists():
        shared = pathlib.Path("../shared/data/mrpc")
        train, test = shared / "msr_paraphrase_train.pairs.tsv", shared / "msr_paraphrase_test.pairs.tsv"
    folds = sorted((out / f"ft{tag}").glob("a-*/folds.json"))
    if folds and train.exists():
        assignment = json.loads(folds[0].read_text())["assignment"]
        ks = [0] if not tag else sorted(set(assignment))
        per_fold = [overlap_baselines(train, [i for i, k in enumerate(assignment) if k == f]) for f in ks]
        where = "fold 0 validation" if not tag else "validation, mean over the 5 folds"
        print(baselines_line(where, {m: statistics.fmean(b[m] for b in per_fold) for m in per_fold[0]}))
    if test.exists():
        print(baselines_line("test", overlap_baselines(test)))
    for line in mlm_curves(out):
        print(line)
    peaks = rss(out)
    if peaks:
        print("- peak RSS (VmHWM, GB): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(peaks.items())))


if __name__ == "__main__":
    main()
