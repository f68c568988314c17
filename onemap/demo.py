"""The synthetic sample county surveyed end to end: ``onemap demo``.

:func:`run_demo` writes a county with :func:`onemap.synth.make_county`, writes the survey TOML
for it (:func:`demo_config`, :func:`to_toml`), runs :func:`onemap.survey.run_survey` on that TOML
through the normal path and adds the evaluation against the planted truth to the manifest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._atomic import atomic_write_text

if TYPE_CHECKING:
    from .survey import SurveyResult

__all__ = ["demo_config", "run_demo", "to_toml"]


def demo_config(county: Any, output: str | PathLike[str]) -> dict[str, Any]:
    """A survey configuration (mapping) for a county written by :func:`onemap.synth.make_county`."""
    p = {k: Path(v).resolve() for k, v in county.paths.items()}  # the TOML may live elsewhere
    return {
        "survey": {"name": "onemap sample county", "output": str(Path(output).resolve())},
        "scenes": {"before": {"path": str(p["before"]), "sensor": "gf2"},
                   "after": {"path": str(p["after"]), "sensor": "gf2"}},
        "layers": {"landuse": {"path": str(p["landuse"])},
                   "approvals": {"path": str(p["approvals_txt_dir"])},
                   "supply": {"path": str(p["supply"])}, "farmland": {"path": str(p["farmland"])},
                   "redline": {"path": str(p["redline"])},
                   "cadastral": {"path": str(p["cadastral"])},
                   "admin": {"path": str(p["admin"])}},
        "detect": {"method": "construction", "min_area": 200.0,
                   "options": {"reflectance_scale": 10000.0, "cloud_mask": True}},
        "run": {"tile_size": 512},
    }


def run_demo(out: str | PathLike[str] = "demo_out", size: int = 1024, seed: int = 0,
             progress: bool = True) -> SurveyResult:
    """Write the synthetic sample county under ``out/county`` and survey it into ``out/survey``.

    The manifest gets an ``evaluation`` entry: the verdicts scored against the planted truth
    (:func:`onemap.summary.evaluate`).
    """
    from .summary import evaluate
    from .survey import run_survey
    from .synth import make_county

    out = Path(out).resolve()
    county = make_county(out / "county", size=size, seed=seed)
    cfg = demo_config(county, out / "survey")
    toml_path = out / "survey.toml"
    atomic_write_text(toml_path, to_toml(cfg))  # read back through the normal path
    result = run_survey(toml_path, progress=progress)
    ev = evaluate(result.verdicts, county.truth.to_crs(result.verdicts.crs))
    result.manifest["evaluation"] = {k: v for k, v in ev.items() if k != "per_case"}
    atomic_write_text(result.output / "manifest.json",
                      json.dumps(result.manifest, ensure_ascii=False, indent=2, default=str))
    return result


def to_toml(d: Mapping[str, Any], prefix: str = "") -> str:
    """Minimal TOML writer for a survey config: nested tables of scalars and lists of scalars.

    >>> print(to_toml({"survey": {"name": "县"}, "detect": {"options": {"k": 4.0}}}))
    <BLANKLINE>
    [survey]
    name = "县"
    <BLANKLINE>
    [detect.options]
    k = 4.0
    <BLANKLINE>
    """
    lines, tables = [], []
    for k, v in d.items():
        if isinstance(v, Mapping):
            tables.append((k, v))
        else:
            lines.append(f"{k} = {json.dumps(v, ensure_ascii=False)}")
    text = "\n".join(lines) + ("\n" if lines else "")
    for k, v in tables:
        name = f"{prefix}.{k}" if prefix else k
        body = to_toml(v, name)
        if any(not isinstance(x, Mapping) for x in v.values()):
            text += f"\n[{name}]\n"
        text += body
    return text
