"""What the trained detector's pre-screen costs in recall, on held-out real data.

The pre-screen (:mod:`onemap.change.predict`) runs the pixel model only where the CVA magnitude
reaches ``prescreen`` noise sigmas; elsewhere the probability is 0. This script trains one model
per fold exactly as ``benchmarks/eval_trained.py`` does (same folds, fixed defaults, nothing
tuned on the test folds), predicts every held-out pair once per pre-screen level, and reports
pooled pixel precision / recall / F1 per level, the change against no pre-screen (level 0), the
share of pixels the model scores, and the prediction time.

Usage::

    python benchmarks/eval_prescreen.py ../shared/data [--only landsat,sztaki] [--levels 0 1 2 3]
        [--max-folds N] [--write]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from eval_trained import folds, labelled  # noqa: E402

from onemap.change.model import detect_with_model  # noqa: E402
from onemap.change.train import train_change_model  # noqa: E402
from tests.change import real_data as R  # noqa: E402

BEGIN, END = "<!-- prescreen-cost:begin -->", "<!-- prescreen-cost:end -->"


def scored_share(pair: R.Pair, level: float) -> tuple[int, int]:
    """(pixels at or above *level* sigmas of CVA, valid pixels): what the model scores."""
    from onemap.change import _feature_kernels as FK
    from onemap.change.features import FeaturePlan, _as_float, _f32

    plan = FeaturePlan(pair.before, pair.after)
    b1 = _as_float(np.asarray(plan.before.values), plan.nodata1)
    b2 = _as_float(np.asarray(plan.after.values), plan.nodata2)
    cva = np.empty(b1.shape[1:], np.float32)
    FK.cva_kernel(b1, b2, _f32(plan.gain), _f32(plan.offset), _f32(plan.sigma), cva)
    ok = np.isfinite(cva)
    return int((cva[ok] >= level).sum()), int(ok.sum())


def evaluate(root: Path, only: set[str], levels: list[float], max_folds: int | None) -> list[dict]:
    rows = []
    for dataset, splits in folds(root, only).items():
        splits = splits[:max_folds] if max_folds else splits
        conf = {lv: np.zeros(4, np.int64) for lv in levels}
        secs = {lv: 0.0 for lv in levels}
        scored = {lv: np.zeros(2, np.int64) for lv in levels}
        px = 0
        for train, test in splits:
            model = train_change_model([labelled(p) for p in train], seed=0, num_threads=1)
            for pair in test:
                px += pair.truth.size
                for lv in levels:
                    t0 = time.perf_counter()
                    patches = detect_with_model(pair.before, pair.after, model, prescreen=lv)
                    secs[lv] += time.perf_counter() - t0
                    conf[lv] += R.confusion(R.predicted_mask(patches, pair.frame), pair)
                    scored[lv] += scored_share(pair, lv)
                print(dataset, test[0].name,
                      {lv: round(R.prf(c)[2], 4) for lv, c in conf.items()}, flush=True)
        for lv in levels:
            p, r, f = R.prf(conf[lv])
            rows.append({"dataset": dataset, "folds": len(splits), "level": lv, "P": p, "R": r,
                         "F1": f, "dR": r - R.prf(conf[levels[0]])[1],
                         "dF1": f - R.prf(conf[levels[0]])[2],
                         "scored": scored[lv][0] / max(scored[lv][1], 1),
                         "s_per_mpx": secs[lv] / (px / 1e6)})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| dataset | folds | pre-screen (σ) | pixels scored | P | R | F1 | ΔR | ΔF1 | "
             "predict s / Mpx |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['folds']} | {r['level']:g} | "
                     f"{100 * r['scored']:.1f} % "
                     f"| {r['P']:.3f} | {r['R']:.3f} | {r['F1']:.3f} | {r['dR']:+.3f} | "
                     f"{r['dF1']:+.3f} | {r['s_per_mpx']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path, nargs="?", default=HERE.parents[1] / "shared" / "data")
    ap.add_argument("--only", default="landsat,sztaki")
    ap.add_argument("--levels", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0])
    ap.add_argument("--max-folds", type=int, default=None, help="first N folds per data set")
    ap.add_argument("--write", action="store_true", help="put the table into benchmarks/README.md")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = evaluate(args.data, set(args.only.split(",")), args.levels, args.max_folds)
    text = table(rows) + (f"\n\nLoad average {os.getloadavg()[0]:.1f} at the end; "
                          f"{time.perf_counter() - t0:.0f} s in all.")
    print(text)
    if args.write:
        path = HERE / "README.md"
        doc = path.read_text(encoding="utf-8")
        if BEGIN in doc:
            head, rest = doc.split(BEGIN, 1)
            doc = head + BEGIN + "\n" + text + "\n" + END + rest.split(END, 1)[1]
        else:
            doc += f"\n{BEGIN}\n{text}\n{END}\n"
        path.write_text(doc, encoding="utf-8")


if __name__ == "__main__":
    main()
