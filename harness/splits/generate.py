"""Generate the committed split files from the benchmark tables.

Run ``python -m harness.splits.generate [--data-dir PATH]``. Selections depend only on the
tables and fixed seeds, so re-running reproduces the committed files byte for byte; a changed
selection must bump the split's ``version``.
"""

from __future__ import annotations

import argparse

import numpy as np

from harness import data
from harness.spaces import nb201
from harness.splits import write_split

SUBSET_SEED = 20211206  # NeurIPS 2021; fixed forever for version-1 subsets


def spread_over_truth(truth: np.ndarray, n: int) -> list[int]:
    """``n`` ids at evenly spaced ranks of ``truth`` (so a smoke split spans the whole range)."""
    order = np.argsort(truth, kind="stable")
    picks = np.unique(np.round(np.linspace(0, len(truth) - 1, n)).astype(int))
    return sorted(int(order[p]) for p in picks)


def random_subset(n_total: int, n: int, seed: int = SUBSET_SEED) -> list[int]:
    rng = np.random.Generator(np.random.PCG64(seed))
    return sorted(int(i) for i in rng.choice(n_total, size=n, replace=False))


def nb201_splits(data_dir=None) -> list[dict]:
    df = data.load_table("nb201", data_dir)
    n = len(df)
    everything = list(range(n))
    c10 = df["cifar10_test_200ep"].to_numpy()
    gt10 = {"table": "nb201", "column": "cifar10_test_200ep", "aggregate": "none"}
    common = {"version": 1, "benchmark": "nb201"}

    classes: dict[str, int] = {}
    for i, arch in enumerate(df["arch_str"]):
        classes.setdefault(nb201.canonical(nb201.parse(arch)), i)  # first index represents
    reps = sorted(classes.values())

    out = [
        dict(common, name="nb201-c10", dataset="cifar10", ground_truth=gt10, arch_ids=everything,
             description="All 15,625 NAS-Bench-201 cells; ground truth: CIFAR-10 test accuracy "
                         "after 200 epochs (mean over the benchmark's seeds)."),
        dict(common, name="nb201-c10-deiso", dataset="cifar10",
             ground_truth=dict(gt10, aggregate="isomorphism_class_mean"), arch_ids=reps,
             description="One representative (lowest index) per isomorphism class: 6,466 cells. "
                         "Ground truth: mean CIFAR-10 200-epoch test accuracy over the class, as "
                         "in Ning et al. (2021)."),
        dict(common, name="nb201-c10-1k", dataset="cifar10", ground_truth=gt10,
             arch_ids=random_subset(n, 1000),
             description="1,000 NAS-Bench-201 cells drawn uniformly without replacement (seed "
                         f"{SUBSET_SEED}); the pull-request split. CIFAR-10 200-epoch test "
                         "accuracy."),
        dict(common, name="nb201-c10-smoke", dataset="cifar10", ground_truth=gt10,
             arch_ids=spread_over_truth(c10, 100),
             description="100 cells at evenly spaced ranks of CIFAR-10 accuracy, worst to best; "
                         "for tests."),
        dict(common, name="nb201-c100", dataset="cifar100",
             ground_truth={"table": "nb201", "column": "cifar100_test_200ep", "aggregate": "none"},
             arch_ids=everything,
             description="All 15,625 cells ranked by CIFAR-100 200-epoch test accuracy. CIFAR-100 "
                         "images do not ship with estbench: estimators that need images skip."),
        dict(common, name="nb201-in16", dataset="imagenet16-120",
             ground_truth={"table": "nb201", "column": "imagenet16_120_test_200ep",
                           "aggregate": "none"},
             arch_ids=everything,
             description="All 15,625 cells ranked by ImageNet16-120 200-epoch test accuracy. "
                         "ImageNet16-120 images do not ship with estbench: estimators that need "
                         "images skip."),
    ]
    return out


def _table_splits(benchmark: str, table: str, column: str, prefix: str, full_name: str,
                  what: str, truth_text: str, data_dir=None) -> list[dict]:
    """All rows of a table, a seeded 1,000-row subset and a 50-row smoke subset."""
    df = data.load_table(table, data_dir)
    n = len(df)
    truth = df[column].to_numpy()
    gt = {"table": table, "column": column, "aggregate": "none"}
    common = {"version": 1, "benchmark": benchmark, "dataset": "cifar10", "ground_truth": gt}
    return [
        dict(common, name=full_name, arch_ids=list(range(n)),
             description=f"All {n:,} {what}; ground truth: {truth_text}."),
        dict(common, name=f"{prefix}-1k", arch_ids=random_subset(n, 1000),
             description=f"1,000 of the {n:,} {what}, drawn uniformly without replacement "
                         f"(seed {SUBSET_SEED}); ground truth: {truth_text}."),
        dict(common, name=f"{prefix}-smoke", arch_ids=spread_over_truth(truth, 50),
             description=f"50 {what} at evenly spaced ranks of the ground truth ({truth_text}), "
                         "worst to best; for tests."),
    ]


def nb101_splits(data_dir=None) -> list[dict]:
    return _table_splits(
        "nb101", "nb101", "test_accuracy", "nb101", "nb101-5k",
        "NAS-Bench-101 cells (NAS-Bench-1shot1 search space 3; the table repeats 694 cells, "
        "each row with its own sampled training run)",
        "CIFAR-10 test accuracy after 108 epochs (one sampled run of the benchmark's three)",
        data_dir,
    )


def nb301_splits(data_dir=None) -> list[dict]:
    return _table_splits(
        "nb301", "nb301", "surrogate_val_accuracy", "nb301", "nb301-5896",
        "NAS-Bench-301 (DARTS) genotypes of the paper authors' evaluation set (5,468 distinct; "
        "repeated genotypes have equal ground truth)",
        "NAS-Bench-301 surrogate's CIFAR-10 validation accuracy, without noise",
        data_dir,
    )


def nds_splits(data_dir=None) -> list[dict]:
    out = []
    for kind, title, seeds in (("resnet", "ResNet", "mean of 3 seeds"),
                               ("resnexta", "ResNeXt-A", "single seed")):
        out += _table_splits(
            f"nds_{kind}", f"nds_{kind}", "test_accuracy", f"nds-{kind}", f"nds-{kind}-5k",
            f"NDS {title} CIFAR-10 networks",
            f"CIFAR-10 test accuracy, 100 minus the minimum test top-1 error ({seeds})",
            data_dir,
        )
    return out


GENERATORS = [nb201_splits, nb101_splits, nb301_splits, nds_splits]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)
    for gen in GENERATORS:
        for payload in gen(args.data_dir):
            print(write_split(payload))


if __name__ == "__main__":
    main()
