"""Model folders: ``card.json`` + weights file, checked against the card's sha256 before loading.

A model folder is data (``models/<name>/``): the card carries the model's contract (architecture and
arguments, input size, preprocessing, thresholds, metrics with the command that measured them).
Callers read those values from the card and never restate them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ModelCard", "ModelVersionConflict", "WeightsError", "companion_weights", "load_card", "next_version",
           "sha256_file", "write_card"]


class WeightsError(RuntimeError):
    """A model folder is missing, malformed, or its weights do not match the card."""


class ModelVersionConflict(WeightsError):
    """A model's weights differ from those a lake already knows under the same name and version."""


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


def companion_weights(folder: str | Path, block: dict[str, Any], what: str, key: str) -> Path:
    """The weights file of a network a card names beside its own (section ``key``, e.g. a verifier's ``destamp``
    stamp remover, a detector's ``orienter``), checked against the section's sha256. ``what`` names it in errors."""
    path = Path(folder) / block["weights"]
    if not path.is_file():
        raise WeightsError(f"{folder}: the card's {what} {block['weights']} is missing")
    if sha256_file(path) != block["sha256"]:
        raise WeightsError(f"{path}: sha256 differs from the card's {key}.sha256 (weights changed or damaged)")
    return path


def attach_companion(source: str | Path, weights: str | Path, out: str | Path, key: str, filename: str,
                     block: dict[str, Any], version: str | None = None, command: str | None = None,
                     carry: tuple[str, ...] = ()) -> ModelCard:
    """``source``'s model written to ``out`` (which may be ``source``: the card is replaced, the network kept) with the
    network ``weights`` beside its own, copied as ``filename`` and named in the card's section ``key`` (``block``
    with the file, its sha256, the source it was given to and ``command``; :func:`companion_weights` checks it on
    load), under a new version (default: the source's major + 1, or ``<version>.1`` when that is not a number): what
    the model writes changes with it, and a lake must not mix the two. ``carry``: more files of ``source`` to copy
    (its README). A verifier's stamp remover (:func:`sigpipe.destamp.attach`) and a detector's page orienter
    (:func:`sigpipe.orient.attach`) are given this way."""
    import shutil

    src = load_card(source)
    source, out = Path(source), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in (src.data["weights"], *carry):
        if (source / name).is_file() and (source / name).resolve() != (out / name).resolve():
            shutil.copy2(source / name, out / name)
    dst = out / filename
    if Path(weights).resolve() != dst.resolve():
        shutil.copy2(weights, dst)
    data = dict(src.data)
    major = str(src.version).split(".")[0]
    data["version"] = version or (str(int(major) + 1) if major.isdigit() else f"{src.version}.1")
    data[key] = {"weights": filename, "sha256": sha256_file(dst), **block,
                 "from": {"name": src.name, "version": src.version, "sha256": src.data["sha256"]},
                 **({"command": command} if command is not None else {})}
    return write_card(out, data)


def write_card(folder: str | Path, data: dict[str, Any]) -> ModelCard:
    """Write ``card.json`` with the sha256 of the weights it names filled in."""
    folder = Path(folder)
    data = dict(data)
    data["sha256"] = sha256_file(folder / data["weights"])
    tmp = folder / "card.json.tmp"
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(folder / "card.json")
    return ModelCard(folder=folder, data=data)


def next_version(folder: str | Path, name: str, weights: str | Path) -> str:
    """The version to write for the weights ``weights`` exported as model ``name`` into ``folder``.

    A lake keys what a model wrote by its name and version (and refuses other weights under a version it knows),
    so different weights must never share one: the version of ``folder``'s card when it names the same weights
    (an export repeated), else that version with its last number raised ("1" -> "2", "v1.3" -> "v1.4"), else
    "1" when ``folder`` holds no card of ``name``."""
    card_path = Path(folder) / "card.json"
    try:
        old = json.loads(card_path.read_text())
    except (OSError, ValueError):
        return "1"
    if not isinstance(old, dict) or old.get("name") != name or not old.get("version"):
        return "1"
    version = str(old["version"])
    if old.get("sha256") == sha256_file(Path(weights)):
        return version
    m = re.search(r"(\d+)(\D*)$", version)
    return f"{version[: m.start(1)]}{int(m.group(1)) + 1}{m.group(2)}" if m else f"{version}.1"
