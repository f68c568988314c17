"""Write the whole bad-input corpus to a folder for a human to look at.

``python -m tests.corpus.make_corpus OUT [--run]`` writes every case into ``OUT/<name>/`` and
prints one line per case: its name, the input written and the expected answer (the error class and
the words its message must hold, or the repair reported). ``--run`` also reads each input and
prints what onemap actually said.
"""

from __future__ import annotations

import argparse
import shutil
import warnings
from pathlib import Path

from onemap.errors import OnemapError, RepairWarning

from . import Case, all_cases


def expected(case: Case) -> str:
    if case.error is not None:
        return f"raises {case.error.__name__} naming {' | '.join(case.match)}"
    if case.repair is not None:
        return f"repaired, reports {case.repair!r}"
    return "reads cleanly (decision recorded in attrs)"


def actual(case: Case, path: Path) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = case.read(path)
        except OnemapError as exc:
            return f"{type(exc).__name__}: {exc}"
    reports = [str(w.message) for w in caught if issubclass(w.category, RepairWarning)]
    return f"returned {type(result).__name__}" + (f"; {reports[0]}" if reports else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the cases into (one sub-folder per case)")
    parser.add_argument("--run", action="store_true", help="also read each input and print onemap's answer")
    args = parser.parse_args(argv)
    for case in all_cases():
        folder = args.out / case.name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        path = case.build(folder)
        print(f"{case.name}: {path.relative_to(args.out)} -> {expected(case)}")
        if args.run:
            print(f"    onemap: {actual(case, path)}")


if __name__ == "__main__":
    main()
