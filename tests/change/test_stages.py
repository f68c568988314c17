"""The typed status of the chain's threshold stage: a result that unpacks as before, says how the
detection went without a warning, and survives a round trip to another process."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from onemap.change import DetectionStatus, ThresholdResult, threshold_score
from onemap.errors import NoValidPixelsError


def test_the_result_unpacks_and_names_its_parts():
    s = np.r_[np.zeros(90), np.full(10, 5.0)].astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an ordinary score: not a word
        result = threshold_score(s, threshold="otsu")
    t, noise = result
    assert (t, noise) == (result.threshold, result.noise) and 0 < t < 5
    assert result.status is DetectionStatus.OK and result.status == "ok"
    assert pickle.loads(pickle.dumps(result)) == result
    assert pickle.loads(pickle.dumps(result)).status is DetectionStatus.OK


def test_a_constant_score_is_a_status_not_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = threshold_score(np.full((5, 5), 3.0, np.float32))
    assert result.status is DetectionStatus.CONSTANT_SCORE
    assert tuple(result) == (3.0, 0.0)
    again = pickle.loads(pickle.dumps(result))
    assert again.status is DetectionStatus.CONSTANT_SCORE and repr(again) == repr(result)


def test_no_valid_pixel_is_a_typed_error():
    with pytest.raises(NoValidPixelsError):
        threshold_score(np.full(4, np.nan, np.float32))


def test_status_values_are_the_words_of_the_patch_attrs():
    assert [s.value for s in DetectionStatus] == ["ok", "no valid pixels", "constant score"]
    assert str(DetectionStatus.NO_VALID_PIXELS) == "no valid pixels"
    assert ThresholdResult(1.0, 0.5, "constant score").status is DetectionStatus.CONSTANT_SCORE
    with pytest.raises(ValueError):
        ThresholdResult(1.0, 0.5, "fine")


def test_patches_above_takes_the_grid_and_dates_of_the_score():
    """A georeferenced score, as change_score returns it, needs no frame= or dates=."""
    import xarray as xr

    from onemap import Frame
    from onemap.change import patches_above

    f = Frame.from_bounds((39_500_000, 3_300_000, 39_500_040, 3_300_040), 2.0, 4527)
    s = np.zeros((20, 20), "float32")
    s[2:5, 3:7] = 6.0
    score = xr.DataArray(s, dims=("y", "x"), coords=f.coords(),
                         attrs={"date_before": "2020-05-01", "date_after": "2021-05-01"}
                         ).rio.write_crs(f.crs).rio.write_transform(f.transform)
    own = patches_above(score, 2.0, noise=1.0)
    given = patches_above(score, 2.0, f, noise=1.0, dates=("2020-05-01", "2021-05-01"))
    assert len(own) == 1 and own.crs == given.crs
    assert own.geometry.geom_equals(given.geometry).all()
    assert own.date_after.iloc[0] == "2021-05-01"
