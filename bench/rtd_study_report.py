#!/usr/bin/env python3
"""The table of bench/rtd_study.sh (issue #17, point 5): for MLM and replaced-token
detection at an equal wall-clock pretraining budget, per seed and as mean +- sample std
over seeds: the pretraining steps, seconds and held-out metrics (the MLM's or the
generator's masked-token accuracy next to the most-frequent-token baseline; the
discriminator's accuracy next to answering "original" everywhere, and its AUC), then the
fine-tuned CV AUC (mean of 5 folds) and test AUC (fold ensemble), with the rtd - mlm
difference paired by seed.

    python3 bench/rtd_study_report.py [bench/out/rtd-bq]
"""
import json
import pathlib
import sys

from report_lib import mean_std


def pretrain_run(d):
    log = d / "metrics.jsonl"
    if not (d / "done").exists() or not log.exists():
        return None
    recs = [json.loads(l) for l in log.read_text().splitlines() if l]
    end = next(r for r in reversed(recs) if r.get("event") == "end")
    ev = next(r for r in reversed(recs) if r.get("event") == "eval")
    return {"steps": end["step"], "seconds": end["train_seconds"], "eval": ev}


def finetune_run(d):
    if not (d / "cv.json").exists() or not (d / "test-eval.jsonl").exists():
        return None
    cv = json.loads((d / "cv.json").read_text())
    rows = [json.loads(l) for l in (d / "test-eval.jsonl").read_text().splitlines() if l]
    return {"cv": cv["mean"]["auc"], "test": next(r for r in rows if r["model"] == "ensemble")["auc"]}


def main():
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out/rtd-bq")
    budget = (out / "budget.txt").read_text().strip() if (out / "budget.txt").exists() else "-"
    seeds = sorted({int(p.name.rsplit("-s", 1)[1]) for p in out.glob("pretrain-*-s*") if p.is_dir()})
    runs = {(o, s): (pretrain_run(out / f"pretrain-{o}-s{s}"), finetune_run(out / f"ft-{o}-s{s}"))
            for o in ("mlm", "rtd") for s in seeds}
    print(f"budget: {budget}\n")
    print("| objective | seed | steps | seconds | masked acc (baseline) | disc acc (all-original) | disc AUC | CV AUC | test AUC |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for (o, s), (pt, ft) in runs.items():
        if not pt:
            continue
        e = pt["eval"]
        disc = (f"{e['disc_accuracy']:.4f} ({e['disc_majority_accuracy']:.4f})", f"{e['disc_auc']:.4f}") \
            if "disc_auc" in e else ("-", "-")
        cv, test = (f"{ft['cv']:.4f}", f"{ft['test']:.4f}") if ft else ("-", "-")
        print(f"| {o} | {s} | {pt['steps']} | {pt['seconds']:.0f} | "
              f"{e['masked_accuracy']:.4f} ({e['unigram_accuracy']:.4f}) | {disc[0]} | {disc[1]} | {cv} | {test} |")
    print("\n| objective | seeds | CV AUC | test AUC | test rtd - mlm (paired) |")
    print("| --- | --- | --- | --- | --- |")
    for o in ("mlm", "rtd"):
        done = {s: runs[(o, s)][1] for s in seeds if runs[(o, s)][1]}
        paired = [done[s]["test"] - runs[("mlm", s)][1]["test"]
                  for s in done if o == "rtd" and runs[("mlm", s)][1]]
        print(f"| {o} | {len(done)} | {mean_std([r['cv'] for r in done.values()])} | "
              f"{mean_std([r['test'] for r in done.values()])} | {mean_std(paired) if paired else ''} |")


if __name__ == "__main__":
    main()
