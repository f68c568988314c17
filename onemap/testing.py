"""Tools to test a pipeline built with onemap: a synthetic county with known truth, and the
accuracy of verdicts against it.

* :func:`make_county` writes a small county (layers, approvals as TXT, two dated scenes) whose
  planted changes and their verdicts are known (:class:`County`, ``county.truth``);
* :func:`evaluate` scores verdicts against that truth (object-level precision, recall, F1 of the
  unapproved flag and the area error), as :class:`Evaluation`.

These are not part of a survey; they live here, apart from the pipeline names at ``onemap.*``.

Examples
--------
>>> from onemap.testing import evaluate, make_county
>>> callable(evaluate) and callable(make_county)
True
"""

from __future__ import annotations

from .summary import Evaluation, evaluate
from .synth import CASES, VERDICTS, County, make_county, open_county

__all__ = ["CASES", "VERDICTS", "County", "Evaluation", "evaluate", "make_county", "open_county"]
