"""What the benches that read CEDAR writer by writer share: their arguments, and each writer's scans.

Not a benchmark (``_``): ``bench/explain.py`` and ``bench/agreement.py`` import it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """``--data --writers --references --queries --model``."""
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cedar"), help="a CEDAR folder")
    ap.add_argument("--writers", default="36-45", help="CEDAR writers, e.g. 36-45 (not trained on) or 1-35")
    ap.add_argument("--references", type=int, default=6, help="genuine scans enrolled per writer")
    ap.add_argument("--queries", type=int, default=8, help="genuine and forged questioned scans per writer")
    ap.add_argument("--model", default=str(ROOT / "models" / "verifier-signet"))


def writers(a: argparse.Namespace) -> Iterator[tuple[str, list[Path], list[Path]]]:
    """Per writer in ``a.writers`` with more than ``a.references`` genuine scans, in number order: the writer, their
    genuine scans and their skilled forgeries, each in natural file-name order (``_2`` before ``_10``). Exits with
    the reason when ``a.data`` is not a CEDAR folder."""
    from sigpipe.verifier import parse_writers
    from sigpipe.verifier.data import DataError, discover

    try:
        found = discover(a.data, "cedar", parse_writers(a.writers))
    except DataError as e:
        sys.exit(str(e))
    for w in sorted(set(found.writers), key=int):
        mine = found.writers == w
        gen = [Path(p) for p in found.paths[mine & found.genuine]]
        if len(gen) > a.references:
            yield w, gen, [Path(p) for p in found.paths[mine & ~found.genuine]]
