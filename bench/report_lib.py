"""Helpers shared by the study report scripts (bench/*_study_report.py)."""
import statistics


def mean_std(xs):
    """`mean +- sample std` of xs with 4 decimals ("-" when empty, the value alone for one)."""
    if not xs:
        return "-"
    if len(xs) == 1:
        return f"{xs[0]:.4f}"
    return f"{statistics.fmean(xs):.4f} +- {statistics.stdev(xs):.4f}"
