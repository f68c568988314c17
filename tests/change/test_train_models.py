"""``benchmarks/train_models.py`` trains on every pair a data folder holds, laid out like the
shared samples -- not only the shared cities and sites -- and its models detect by path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from onemap import detect_changes
from onemap.change.model import load_model

from . import real_data as R

pytestmark = pytest.mark.shared_data
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_models.py"


def _mirror(shared: Path, root: Path) -> None:
    """Taizhou twice (as itself and as an ENVI ``.img`` site), Szada pairs 1-2 and the same two
    as a second site, two OSCD cities (one under another name), no LEVIR."""
    change = root / "change"
    tz = shared / "change" / "landsat" / "Taizhou"
    (change / "landsat").mkdir(parents=True)
    (change / "landsat" / "Taizhou").symlink_to(tz)
    other = change / "landsat" / "Other"
    other.mkdir()
    for old, new in (("2000TM", "a2000.img"), ("2000TM.HDR", "a2000.hdr"),
                     ("2003TM", "b2003.img"), ("2003TM.HDR", "b2003.hdr"),
                     ("change.bmp", "change.bmp")):  # no unchanged.bmp: every pixel labelled
        (other / new).symlink_to(tz / old)
    for site in ("Szada", "Tiszadob"):
        for n in (1, 2):
            (change / "sztaki" / site).mkdir(parents=True, exist_ok=True)
            (change / "sztaki" / site / str(n)).symlink_to(shared / "change" / "sztaki" /
                                                           "Szada" / str(n))
    (change / "oscd").mkdir()
    (change / "oscd" / "bercy").symlink_to(shared / "change" / "oscd" / "bercy")
    rennes = change / "oscd" / "rennes2"  # a city the shared list does not name
    rennes.mkdir()
    for part in ("imgs_1", "imgs_2", "dates.txt"):
        (rennes / part).symlink_to(shared / "change" / "oscd" / "rennes" / part)
    (rennes / "cm").mkdir()
    (rennes / "cm" / "rennes2-cm.tif").symlink_to(shared / "change" / "oscd" / "rennes" / "cm" /
                                                  "rennes-cm.tif")


def test_discover_finds_every_pair_of_the_layout(shared_data, tmp_path):
    _mirror(shared_data, tmp_path)
    found = R.discover(tmp_path)
    assert {k: len(v) for k, v in found.items()} == {"oscd": 2, "sztaki": 4, "levir": 0,
                                                     "landsat": 2}
    other, tz = (load() for load in found["landsat"])
    ref = R.taizhou(shared_data)
    np.testing.assert_array_equal(other.before.values, ref.before.values)
    assert tz.valid.sum() == ref.valid.sum() < other.valid.size == other.valid.sum()
    assert [p().name for p in found["sztaki"]][-1] == "sztaki/tiszadob2"
    assert found["oscd"][1]().truth.sum() == R.oscd(shared_data, "rennes").truth.sum()


def test_train_models_trains_on_the_folder_and_detects_by_path(shared_data, tmp_path):
    _mirror(shared_data, tmp_path)
    out = tmp_path / "models"
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), str(out),
                           "--only", "landsat,levir"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "levir: no labelled pairs" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["landsat.json"]
    model = load_model(out / "landsat.json")
    assert sorted(p["name"] for p in model.header["training"]) == ["landsat/other",
                                                                    "landsat/taizhou"]
    tz = R.taizhou(shared_data)
    patches = detect_changes(tz.before, tz.after, model=out / "landsat.json")
    assert len(patches) > 0 and patches.attrs["method"] == "trained"


def test_a_dataset_that_cannot_train_is_said_and_the_others_still_train(shared_data, tmp_path):
    """A LEVIR folder whose one crop has no change cannot train: the script says why, goes on
    with Landsat, and exits non-zero naming what it did not train."""
    from PIL import Image

    change = tmp_path / "change"
    (change / "landsat").mkdir(parents=True)
    (change / "landsat" / "Taizhou").symlink_to(shared_data / "change" / "landsat" / "Taizhou")
    levir = shared_data / "change" / "levir"
    name = R.levir_names(shared_data)[0]
    for part in ("A", "B", "label"):
        (change / "levir" / part).mkdir(parents=True)
    for part in ("A", "B"):
        (change / "levir" / part / f"{name}.png").symlink_to(levir / part / f"{name}.png")
    Image.new("L", (256, 256)).save(change / "levir" / "label" / f"{name}.png")  # no change
    out = tmp_path / "models"
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), str(out),
                           "--only", "levir,landsat"], capture_output=True, text=True)
    assert proc.returncode == 1 and "not trained: levir" in proc.stderr
    assert "levir: not trained" in proc.stdout and "marks no changed pixel" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["landsat.json"]
