"""What the trained detector's pre-screen costs in recall, on held-out real data.

The pre-screen (:mod:`onemap.change.predict`) runs the pixel model only where it passes;
elsewhere the probability is 0. Two kinds: the model's **learned screen** (``prescreen=None``,
the default: a small model whose level was chosen on the model's own out-of-fold validation to
keep 99 % of its true detections) and a fixed CVA level (``prescreen`` noise sigmas). This
script trains one model per fold exactly as ``benchmarks/eval_trained.py`` does (same folds,
fixed defaults, nothing tuned on the test folds), predicts every held-out pair with no screen
(level 0), with the learned screen and at each fixed level, and reports pooled pixel precision /
recall / F1 per setting, the change against no screen, the share of pixels the model scores,
the prediction time, and for the learned screen what the models' own out-of-fold validation
predicted (mean over the folds' models of the share of pixels kept and the recall cost).

Usage::

    python benchmarks/eval_prescreen.py ../shared/data [--only landsat,sztaki] [--levels 1 2 3]
        [--max-folds N] [--json rows.json] [--merge other.json ...] [--write]
"""

from __future__ import annotations

import argparse
import json
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

BEGIN, END = "<!-- learned-screen:begin -->", "<!-- learned-screen:end -->"
LEARNED = "learned"


def scored_share(pair: R.Pair, level: float | str, model=None) -> tuple[int, int]:
    """(pixels the model scores, valid pixels): CVA at or above *level* sigmas, or with
    ``level="learned"`` the model's screen probability at or above its level."""
    from onemap.change import _feature_kernels as FK
    from onemap.change._screen import screen_block
    from onemap.change.features import FeaturePlan, _as_float, _f32

    plan = FeaturePlan(pair.before, pair.after)
    b1 = _as_float(np.asarray(plan.before.values), plan.nodata1)
    b2 = _as_float(np.asarray(plan.after.values), plan.nodata2)
    if level == LEARNED:
        ch = screen_block(plan, b1, b2)
        ok = np.isfinite(ch[len(plan.bands)])
        sp = model.booster("screen").predict(np.ascontiguousarray(ch[:, ok].T))
        return int((sp >= model.screen["level"]).sum()), int(ok.sum())
    cva = np.empty(b1.shape[1:], np.float32)
    FK.cva_kernel(b1, b2, _f32(plan.gain), _f32(plan.offset), _f32(plan.sigma), cva)
    ok = np.isfinite(cva)
    return int((cva[ok] >= level).sum()), int(ok.sum())


def evaluate(root: Path, only: set[str], levels: list, max_folds: int | None) -> list[dict]:
    rows = []
    for dataset, splits in folds(root, only).items():
        splits = splits[:max_folds] if max_folds else splits
        conf = {lv: np.zeros(4, np.int64) for lv in levels}
        secs = {lv: 0.0 for lv in levels}
        scored = {lv: np.zeros(2, np.int64) for lv in levels}
        oof = []  # per fold model: level, out-of-fold share kept and recall cost
        px = 0
        for train, test in splits:
            model = train_change_model([labelled(p) for p in train], seed=0, num_threads=1)
            sc = model.screen
            oof.append((sc["level"], sc["oof_pixels_kept"], sc["oof_recall_cost"]))
            for pair in test:
                px += pair.truth.size
                for lv in levels:
                    t0 = time.perf_counter()
                    setting = None if lv == LEARNED else lv
                    patches = detect_with_model(pair.before, pair.after, model, prescreen=setting)
                    secs[lv] += time.perf_counter() - t0
                    conf[lv] += R.confusion(R.predicted_mask(patches, pair.frame), pair)
                    scored[lv] += scored_share(pair, lv, model)
                print(dataset, test[0].name, f"screen level {sc['level']:.3f}",
                      {lv: round(R.prf(c)[2], 4) for lv, c in conf.items()}, flush=True)
        for lv in levels:
            p, r, f = R.prf(conf[lv])
            row = {"dataset": dataset, "folds": len(splits), "level": lv, "P": p, "R": r,
                   "F1": f, "dR": r - R.prf(conf[levels[0]])[1],
                   "dF1": f - R.prf(conf[levels[0]])[2],
                   "scored": scored[lv][0] / max(scored[lv][1], 1),
                   "s_per_mpx": secs[lv] / (px / 1e6), "load": os.getloadavg()[0]}
            if lv == LEARNED:
                lvl, kept, cost = np.mean(oof, axis=0)
                row.update({"screen_level": lvl, "oof_kept": kept, "oof_dR": -cost})
            rows.append(row)
    return rows


def _setting(level: float | str) -> str:
    return "learned screen" if level == LEARNED else ("none" if level == 0 else f"CVA {level:g} σ")


def table(rows: list[dict]) -> str:
    lines = ["| dataset | folds | pre-screen | pixels scored | P | R | F1 | ΔR | ΔF1 | "
             "predict s / Mpx | OOF: level, kept, ΔR |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        oof = (f"{r['screen_level']:.3f}, {100 * r['oof_kept']:.1f} %, {r['oof_dR']:+.4f}"
               if "oof_kept" in r else "")
        lines.append(f"| {r['dataset']} | {r['folds']} | {_setting(r['level'])} | "
                     f"{100 * r['scored']:.1f} % "
                     f"| {r['P']:.3f} | {r['R']:.3f} | {r['F1']:.3f} | {r['dR']:+.3f} | "
                     f"{r['dF1']:+.3f} | {r['s_per_mpx']:.1f} | {oof} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path, nargs="?", default=HERE.parents[1] / "shared" / "data")
    ap.add_argument("--only", default="landsat,sztaki")
    ap.add_argument("--levels", type=float, nargs="*", default=[],
                    help="fixed CVA levels (noise sigmas) besides none and the learned screen")
    ap.add_argument("--max-folds", type=int, default=None, help="first N folds per data set")
    ap.add_argument("--json", type=Path, default=None, help="also save the rows here")
    ap.add_argument("--merge", type=Path, nargs="*", default=[],
                    help="rows of earlier runs (--json) to put in the same table")
    ap.add_argument("--write", action="store_true", help="put the table into benchmarks/README.md")
    args = ap.parse_args()
    t0 = time.perf_counter()
    levels = [0.0, LEARNED] + [lv for lv in args.levels if lv > 0]
    rows = evaluate(args.data, set(args.only.split(",")), levels, args.max_folds)
    load = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end; "
          f"{time.perf_counter() - t0:.0f} s in all.")
    for extra in args.merge:
        rows += json.loads(extra.read_text())
    text = table(rows)
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
