#!/usr/bin/env python3
"""Tables for one bench/pair_study.sh output dir: pretraining, dapt's 5-fold runs (CV per
fold, test score of each fold and of the fold ensemble) and the PyTorch reference's seeds.

    python3 bench/pair_study_report.py bench/out/study/lcqmc
"""
import json
import pathlib
import statistics
import sys

RUNS = [("pre", "domain-pretrained, class weight 1:1.3"),
        ("pre-cw1", "domain-pretrained, class weight 1:1"),
        ("scratch", "no domain pretraining, class weight 1:1.3")]


def mean_std(xs):
    return f"{statistics.fmean(xs):.4f} +- {statistics.pstdev(xs):.4f}"


def pretraining(out):
    path = out / "pretrain" / "metrics.jsonl"
    if not path.exists():
        return
    evals = [r for r in map(json.loads, path.read_text().splitlines()) if r.get("event") == "eval"]
    if evals:
        first, last = evals[0], evals[-1]
        print(f"pretraining: held-out masked-token accuracy {first['masked_accuracy']:.4f} at step "
              f"{first['step']} -> {last['masked_accuracy']:.4f} at step {last['step']} "
              f"(loss {last['eval_loss']:.3f}; most-frequent-token baseline "
              f"{last['unigram_accuracy']:.4f})")


def dapt_runs(out):
    rows = {}
    print("| run | CV AUC | CV accuracy | CV AUC per fold | test AUC, folds (mean) | "
          "test AUC, ensemble | test accuracy, folds (mean) | test accuracy, ensemble |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, what in RUNS:
        cv_path, test_path = out / f"ft-{name}" / "cv.json", out / f"ft-{name}" / "test-eval.jsonl"
        if not cv_path.exists():
            continue
        folds = json.loads(cv_path.read_text())["folds"]
        aucs, accs = [f["auc"] for f in folds], [f["accuracy"] for f in folds]
        rows[name] = (statistics.fmean(aucs), statistics.fmean(accs))
        test = ["", "", "", ""]
        if test_path.exists():
            recs = [json.loads(l) for l in test_path.read_text().splitlines() if l.startswith("{")]
            single = [r for r in recs if r["model"] != "ensemble"]
            ens = next(r for r in recs if r["model"] == "ensemble")
            test = [mean_std([r["auc"] for r in single]), f"{ens['auc']:.4f}",
                    mean_std([r["accuracy"] for r in single]), f"{ens['accuracy']:.4f}"]
        print(f"| {name}: {what} | {mean_std(aucs)} | {mean_std(accs)} | "
              f"{' '.join(f'{a:.4f}' for a in aucs)} | " + " | ".join(test) + " |")
    return rows


def overlap_baseline(out):
    """AUC of the word-overlap (Jaccard) score on the train and test files: what a model
    that only counts shared words reaches, for scale."""
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    from finetune_ref import auc
    scores = []
    for name in ["train", "test"]:
        s, y = [], []
        for line in (out / "data" / f"{name}.tsv").read_text(encoding="utf-8").splitlines():
            a, b, label = line.split("\t")[:3]
            wa, wb = set(a.lower().split()), set(b.lower().split())
            s.append(len(wa & wb) / max(1, len(wa | wb)))
            y.append(int(label))
        scores.append(f"{name} {auc(s, y):.4f}")
    print("word-overlap (Jaccard) baseline AUC: " + ", ".join(scores))


def spread(aucs):
    """`lo..hi, mean m +- std` of CV AUCs by seed."""
    xs = list(aucs.values())
    return (f"spread {min(xs):.4f}..{max(xs):.4f}, mean {statistics.fmean(xs):.4f} "
            f"+- {statistics.pstdev(xs):.4f} ({len(xs)} seeds)")


def dapt_seeds(out, dapt):
    """CV AUC of the domain-pretrained run by seed (seed 1 and any EXTRA_SEEDS runs)."""
    runs = sorted(out.glob("ft-pre-seed*/cv.json"))
    if not runs or "pre" not in dapt:
        return None
    aucs = {1: dapt["pre"][0]}
    for p in runs:
        seed = int(p.parent.name.removeprefix("ft-pre-seed"))
        aucs[seed] = statistics.fmean(f["auc"] for f in json.loads(p.read_text())["folds"])
    print("dapt (domain-pretrained, class weight 1:1.3), CV AUC by seed: "
          + ", ".join(f"seed {s} {a:.4f}" for s, a in sorted(aucs.items())) + "; " + spread(aucs))
    return aucs


def reference_seeds(out, name):
    """The reference's per-seed summaries of run `name`: ref-NAME.json and, for `pre`,
    the REF_EXTRA_SEEDS files ref-pre-seedN.json."""
    paths = [out / f"ref-{name}.json"] + (sorted(out.glob("ref-pre-seed*.json")) if name == "pre" else [])
    seeds = {}
    for path in paths:
        if path.exists():
            seeds.update(json.loads(path.read_text())["seeds"])
    return dict(sorted(seeds.items(), key=lambda kv: int(kv[0])))


def reference(out, dapt, dapt_by_seed):
    for name, init in [("pre", "domain-pretrained"), ("scratch", "no domain pretraining")]:
        seeds = reference_seeds(out, name)
        if not seeds:
            continue
        aucs = {s: r["summary"]["auc"]["mean"] for s, r in seeds.items()}
        accs = {s: r["summary"]["accuracy"]["mean"] for s, r in seeds.items()}
        lo, hi = min(aucs.values()), max(aucs.values())
        print(f"reference ({init}, class weight 1:1.3), CV AUC by seed: "
              + ", ".join(f"seed {s} {a:.4f} (acc {accs[s]:.4f})" for s, a in aucs.items())
              + "; " + spread(aucs))
        if name in dapt:
            auc = dapt[name][0]
            verdict = "within" if lo <= auc <= hi else ("above" if auc > hi else "BELOW")
            print(f"  dapt {name} (seed 1): CV AUC {auc:.4f}: {verdict} the reference's seed spread")
        if name == "pre" and dapt_by_seed:
            inside = sum(lo <= a <= hi for a in dapt_by_seed.values())
            below = sum(a < lo for a in dapt_by_seed.values())
            mean = statistics.fmean(dapt_by_seed.values())
            print(f"  dapt {name}, all {len(dapt_by_seed)} seeds: mean {mean:.4f} vs reference mean "
                  f"{statistics.fmean(aucs.values()):.4f}; {inside} within the reference's spread, "
                  f"{below} below, {len(dapt_by_seed) - inside - below} above")


def main():
    out = pathlib.Path(sys.argv[1])
    print(f"## {out.name}")
    pretraining(out)
    overlap_baseline(out)
    rows = dapt_runs(out)
    reference(out, rows, dapt_seeds(out, rows))


if __name__ == "__main__":
    main()
