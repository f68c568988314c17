"""Write the example notebooks (outputs stripped) from the cell sources below.

Run ``python notebooks/build_notebooks.py`` after editing; the tests execute the notebooks.
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

SETUP = '''import os, pathlib, tempfile
import matplotlib
matplotlib.use("Agg") if os.environ.get("MPLBACKEND") == "Agg" else None
import matplotlib.pyplot as plt
import numpy as np
import onemap
from onemap.testing import evaluate, make_county

# the embedded sample county of `make demo` (smaller here, so the notebook runs in seconds)
DATA = pathlib.Path(os.environ.get("ONEMAP_NOTEBOOK_DATA", tempfile.mkdtemp()))
county = make_county(DATA / "county", size=int(os.environ.get("ONEMAP_NOTEBOOK_SIZE", 512)), seed=0)
frame = county.frame
frame'''

QUICKSTART = [
    new_markdown_cell("# onemap quickstart\n\nLoad layers and two dates of imagery onto one frame, "
                      "detect new construction, flag what no approval covers, and look at the map."),
    new_code_cell(SETUP),
    new_markdown_cell("## Layers and scenes on one frame"),
    new_code_cell('''p = county.paths
landuse = onemap.read_layer(p["landuse"], kind="landuse", to_crs=frame.crs)
approvals = onemap.read_layer(p["approvals_gpkg"], kind="approval", to_crs=frame.crs)
farmland = onemap.read_layer(p["farmland"], kind="farmland", to_crs=frame.crs)
admin = onemap.read_layer(p["admin"], kind="admin", to_crs=frame.crs)   # a GBK shapefile
before = onemap.align(onemap.open_scene(p["before"], sensor="gf2"), frame)
after = onemap.align(onemap.open_scene(p["after"], sensor="gf2"), frame)
landuse[["landuse_code", "landuse_group", "cultivated"]].value_counts().head()'''),
    new_markdown_cell("## Detect and flag"),
    new_code_cell('''patches = onemap.detect_changes(before, after, min_area=200)
verdicts = onemap.flag_unapproved(patches, approvals, landuse, farmland=farmland, admin=admin)
verdicts[["verdict", "verdict_zh", "area_m2", "unapproved_m2", "unapproved_cultivated_m2"]].head()'''),
    new_code_cell('''onemap.summarize(verdicts)'''),
    new_markdown_cell("## The map"),
    new_code_cell('''from onemap.report import VERDICT_COLOURS, rgb_image

fig, ax = plt.subplots(figsize=(8, 8))
left, bottom, right, top = frame.bounds
ax.imshow(rgb_image(after), extent=(left, right, bottom, top))
for verdict, colour in VERDICT_COLOURS.items():
    sel = verdicts[verdicts.verdict == verdict]
    if len(sel):
        sel.boundary.plot(ax=ax, color=colour, linewidth=1.5, label=verdict)
ax.legend(loc="lower right")
ax.set_title("change patches by verdict");'''),
    new_markdown_cell("## How good is it? Compare with the planted truth"),
    new_code_cell('''ev = evaluate(verdicts, county.truth.to_crs(frame.crs))
ev, ev["per_case"]'''),
]

OVERLAY = [
    new_markdown_cell("# Overlay: zonal statistics and area by class\n\n"
                      "How much of each polygon is which class or value — on the frame's grid (fast) "
                      "and as exact polygon overlays with ellipsoidal areas (the official figures)."),
    new_code_cell(SETUP),
    new_code_cell('''p = county.paths
landuse = onemap.read_layer(p["landuse"], kind="landuse", to_crs=frame.crs)
approvals = onemap.read_layer(p["approvals_gpkg"], kind="approval", to_crs=frame.crs)
after = onemap.align(onemap.open_scene(p["after"], sensor="gf2"), frame)
from onemap.change.indices import ndvi
vi = ndvi(after).compute()'''),
    new_markdown_cell("## Zonal statistics of NDVI per land-use polygon (coverage-fraction weights)"),
    new_code_cell('''zs = onemap.zonal_stats(vi, landuse, stats=["count", "mean", "std", "min", "max"], weights="fraction")
zs.join(landuse["landuse_code"]).groupby("landuse_code")["mean"].describe()'''),
    new_markdown_cell("## Rasterise the land-use codes (pixel-centre rule)"),
    new_code_cell('''landuse["code_int"] = landuse["landuse_code"].str.extract(r"(\\d+)", expand=False).astype(int)
codes_grid = onemap.rasterize(landuse, frame, column="code_int", rule="centre")
codes_grid.plot(figsize=(6, 5), cmap="tab20");'''),
    new_markdown_cell("## Area by class: how much of each approval is which land use"),
    new_code_cell('''abc = onemap.area_by_class(approvals, landuse, column="landuse_code")
abc.head()'''),
    new_code_cell('''exact = onemap.overlay_area(approvals, landuse, ellipsoidal=True)
exact.head()'''),
    new_markdown_cell("Plane areas on the grid vs ellipsoidal areas of the exact overlay (CGCS2000):"),
    new_code_cell('''plane = approvals.area.sum()
ellipsoidal = onemap.ellipsoidal_area(approvals).sum()
print(f"plane {plane:,.1f} m2, ellipsoidal {ellipsoidal:,.1f} m2, ratio {ellipsoidal / plane:.6f}")'''),
]

CHANGE = [
    new_markdown_cell("# Change measures and thresholds\n\nFrom two dates to a change score, a global "
                      "threshold, a mask and patches — one step at a time, with plots."),
    new_code_cell(SETUP),
    new_code_cell('''p = county.paths
before = onemap.align(onemap.open_scene(p["before"], sensor="gf2"), frame)
after = onemap.align(onemap.open_scene(p["after"], sensor="gf2"), frame)
from onemap.change.detect import change_mask, change_score, cva, threshold_score
from onemap.change.indices import ndvi

fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
ndvi(before).plot(ax=axes[0], vmin=-0.5, vmax=0.9, cmap="RdYlGn"); axes[0].set_title("NDVI before")
ndvi(after).plot(ax=axes[1], vmin=-0.5, vmax=0.9, cmap="RdYlGn"); axes[1].set_title("NDVI after");'''),
    new_markdown_cell("## The new-construction score (noise units) and its global Otsu threshold"),
    new_code_cell('''score = change_score(before, after, method="construction").compute()
t, noise = threshold_score(score, threshold="otsu", floor=2.0)
vals = score.values[np.isfinite(score.values)]
fig, ax = plt.subplots(figsize=(7, 3))
ax.hist(vals, bins=200, log=True)
ax.axvline(t, color="red", label=f"threshold {t:.2f}")
ax.legend(); ax.set_xlabel("score (noise sigmas)");'''),
    new_code_cell('''mask = change_mask(score, t, opening=1)
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
score.plot(ax=axes[0], vmin=0, vmax=10); axes[0].set_title("score")
mask.plot(ax=axes[1]); axes[1].set_title("mask");'''),
    new_markdown_cell("## Change-vector analysis: magnitude and direction"),
    new_code_cell('''c = cva(before, after).compute()
c'''),
    new_markdown_cell("## Patches"),
    new_code_cell('''patches = onemap.detect_changes(before, after, min_area=200)
patches.sort_values("area_m2", ascending=False).head()'''),
]


def main() -> None:
    for name, cells in (("01_quickstart", QUICKSTART), ("02_overlay", OVERLAY), ("03_change", CHANGE)):
        nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                "language": "python"}})
        nbformat.write(nb, HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
