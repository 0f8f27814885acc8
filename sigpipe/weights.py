"""Model folders: ``card.json`` + weights file, checked against the card's sha256 before loading.

A model folder is data (``models/<name>/``): the card carries the model's contract (architecture and
arguments, input size, preprocessing, thresholds, metrics with the command that measured them).
Callers read those values from the card and never restate them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ModelCard", "WeightsError", "load_card", "sha256_file", "write_card"]


class WeightsError(RuntimeError):
    """A model folder is missing, malformed, or its weights do not match the card."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelCard:
    folder: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def version(self) -> str:
        return str(self.data["version"])

    @property
    def weights_path(self) -> Path:
        return self.folder / self.data["weights"]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


_REQUIRED = ("name", "version", "kind", "weights", "sha256")


def load_card(folder: str | Path, verify: bool = True) -> ModelCard:
    """Read ``<folder>/card.json``; with ``verify`` the weights' sha256 must equal the card's."""
    folder = Path(folder)
    card_path = folder / "card.json"
    if not card_path.is_file():
        raise WeightsError(f"{folder}: no card.json (not a model folder)")
    try:
        data = json.loads(card_path.read_text())
    except json.JSONDecodeError as e:
        raise WeightsError(f"{card_path}: not valid JSON ({e})") from e
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise WeightsError(f"{card_path}: missing keys {missing}")
    card = ModelCard(folder=folder, data=data)
    if verify:
        if not card.weights_path.is_file():
            raise WeightsError(f"{folder}: weights file {data['weights']!r} named by the card is missing")
        actual = sha256_file(card.weights_path)
        if actual != data["sha256"]:
            raise WeightsError(
                f"{card.weights_path}: sha256 {actual[:12]}... does not match the card's {data['sha256'][:12]}..."
                " (weights changed or corrupt; refusing to load)"
            )
    return card


def write_card(folder: str | Path, data: dict[str, Any]) -> ModelCard:
    """Write ``card.json`` with the sha256 of the weights it names filled in."""
    folder = Path(folder)
    data = dict(data)
    data["sha256"] = sha256_file(folder / data["weights"])
    tmp = folder / "card.json.tmp"
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(folder / "card.json")
    return ModelCard(folder=folder, data=data)
