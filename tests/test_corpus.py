"""Every case of the bad-input corpus (tests/corpus): the exact error with the file, place and fix,
or the documented repair, reported."""

from __future__ import annotations

import warnings

import pytest

from onemap.errors import OnemapError, RepairWarning
from tests.corpus import Case, all_cases

CASES = all_cases()


def repair_texts(result: object, caught: list[warnings.WarningMessage]) -> str:
    """Everything a repaired read reported: its RepairWarnings and ``attrs["repairs"]``."""
    texts = [str(w.message) for w in caught if issubclass(w.category, RepairWarning)]
    texts += [str(r) for r in getattr(result, "attrs", {}).get("repairs", [])]
    return "\n".join(texts)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, tmp_path) -> None:
    folder = tmp_path / case.name
    folder.mkdir()
    path = case.build(folder)
    if case.error is not None:
        with pytest.raises(OnemapError) as info:
            case.read(path)
        exc = info.value
        assert type(exc) is case.error, f"{type(exc).__name__} raised, {case.error.__name__} expected: {exc}"
        for part in case.match:
            assert part in str(exc), f"{part!r} not in the message: {exc}"
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = case.read(path)
    assert result is not None
    text = repair_texts(result, caught)
    if case.repair is not None:
        assert case.repair in text, f"repair {case.repair!r} not reported; reports: {text or '(none)'}"
        for part in case.match:
            assert part in text, f"{part!r} not in the repair reports: {text}"
    else:  # read cleanly: nothing to repair, nothing reported (the check says what was decided)
        assert text == "", f"unexpected repairs: {text}"
    if case.check is not None:
        case.check(result)


def test_corpus_size_and_names() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 40
    readers = {n.split("_")[0] for n in names}
    assert {"vector", "raster", "config"} <= readers
    for case in CASES:
        assert case.error is None or issubclass(case.error, OnemapError), case.name
        assert case.error is not None or case.repair is not None or case.check is not None, case.name
        assert case.error is None or case.match, f"{case.name}: an error case must say what the message names"
