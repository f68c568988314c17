"""Accuracy of the unapproved-construction flag on synthetic counties with planted truth.

Runs the whole survey (``onemap.run_survey``: ingest → align → detect → flag) on counties written
by ``onemap.synth.make_county`` for several seeds and sizes, and scores the verdicts against the
truth table with ``onemap.testing.evaluate``: object-level precision / recall / F1 of the unapproved flag,
the relative error of the flagged unapproved area, and per planted case how many objects were
flagged. Prints a Markdown table (paste it into benchmarks/README.md).

    python benchmarks/bench_accuracy.py            # seeds 0-4 at 1024² and 2048²
    python benchmarks/bench_accuracy.py --quick    # seeds 0-1 at 768²
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

from onemap.summary import evaluate
from onemap.survey import demo_config, run_survey
from onemap.synth import make_county


def one(root: Path, size: int, seed: int) -> tuple[dict, pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        county = make_county(root / f"c{size}_{seed}", size=size, seed=seed)
        t0 = time.perf_counter()
        result = run_survey(demo_config(county, root / f"s{size}_{seed}"), progress=False)
        seconds = time.perf_counter() - t0
    ev = evaluate(result.verdicts, county.truth.to_crs(result.verdicts.crs))
    row = {"size": size, "seed": seed, "patches": len(result.verdicts), "tp": ev["tp"], "fp": ev["fp"],
           "fn": ev["fn"], "precision": ev["precision"], "recall": ev["recall"], "f1": ev["f1"],
           "area_error": ev["area_error"], "survey_s": seconds}
    per_case = ev["per_case"].assign(size=size, seed=seed)
    return row, per_case


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    args = ap.parse_args()
    sizes = args.sizes or ([768] if args.quick else [1024, 2048])
    seeds = range(args.seeds if args.seeds is not None else (2 if args.quick else 5))
    rows, cases = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            for seed in seeds:
                row, per_case = one(Path(tmp), size, seed)
                print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
                rows.append(row)
                cases.append(per_case)
    table = pd.DataFrame(rows)
    tp, fp, fn = table[["tp", "fp", "fn"]].sum()
    p, r = tp / (tp + fp), tp / (tp + fn)
    print("\n## Accuracy of the unapproved flag (object level)\n")
    print(table.round(3).to_markdown(index=False))
    print(f"\npooled: precision {p:.3f}, recall {r:.3f}, F1 {2 * p * r / (p + r):.3f}, "
          f"median area error {table['area_error'].median():.3f}")
    per = pd.concat(cases).groupby(["case", "positive"]).agg(n=("n", "sum"), flagged=("flagged", "sum")).reset_index()
    per["flag_rate"] = per["flagged"] / per["n"]
    print("\n## Per planted case: share of objects flagged unapproved\n")
    print(per.round(3).to_markdown(index=False))


if __name__ == "__main__":
    main()
