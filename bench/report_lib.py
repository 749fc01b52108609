"""Helpers shared by the study report scripts (bench/*_study_report.py)."""
import statistics


def mean_std(xs):
    """`mean +- sample std` of xs with 4 decimals ("-" when empty, the value alone for one)."""
    if not xs:
        return "-"
    if len(xs) == 1:
        return f"{xs[0]:.4f}"
    return f"{statistics.fmean(xs):.4f} +- {statistics.stdev(xs):.4f}"


def overlap_baselines(tsv, which=None):
    """AUC of each word-overlap baseline (jaccard, overlap, edit) on the labelled pair
    file `tsv`, over the 0-based line indices in `which` (all when None): the Python
    reference of tests/fixtures/overlap/make_fixture.py, which `dapt eval` and cv.json
    match to 1e-12 (tests/overlap_baselines.rs)."""
    import pathlib
    import sys
    from sklearn.metrics import roc_auc_score
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent
                           / "tests" / "fixtures" / "overlap"))
    from make_fixture import overlap, words
    rows = [l.split("\t") for l in pathlib.Path(tsv).read_text().splitlines()]
    idx = range(len(rows)) if which is None else which
    feats = [overlap(words(rows[i][0]), words(rows[i][1])) for i in idx]
    labels = [int(rows[i][2]) for i in idx]
    return {m: roc_auc_score(labels, [f[m] for f in feats]) for m in ("jaccard", "overlap", "edit")}


def baselines_line(name, aucs):
    """`- word-overlap baselines (NAME): jaccard 0.7912, overlap ..., edit ...`."""
    return (f"- word-overlap baselines' AUC ({name}): "
            + ", ".join(f"{m} {v:.4f}" for m, v in aucs.items()))
