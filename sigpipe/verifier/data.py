"""Signature data sets on disk: layouts, writer selection, and a cache of cleaned crops.

Layouts:

- ``cedar``: ``<root>/full_org/original_W_N.*`` (genuine) and ``<root>/full_forg/forgeries_W_N.*``
  (skilled forgeries of writer W).
- ``folders``: ``<root>/<writer>/genuine/*`` and optionally ``<root>/<writer>/forged/*``.
- ``flat``: ``<root>/<writer>/*`` all genuine.
- ``crossmedia``: ``<root>/<writer>/<n>.jpg``, n = 1..40, all genuine: each writer wrote the same 10 names
  (``(n - 1) % 10``) on 4 media. The claimed writer is ``<writer>-<name>`` (a signature is one name by one
  hand) and ``groups`` holds the name, so the sampler can draw the same name by other writers as natural
  skilled-forgery-like negatives.

Every problem (unknown layout, missing folder, no images, unreadable image) raises :class:`DataError`
naming the path, so the CLI can print one clear line.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LAYOUTS", "DataError", "SignatureSet", "cached_clean", "discover", "load_clean"]

LAYOUTS = ("cedar", "folders", "flat", "crossmedia")
_IMG_EXT = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".pgm", ".webp"}
_CEDAR_RE = re.compile(r"^(original|forgeries)_(\d+)_(\d+)$")


class DataError(ValueError):
    """A data folder or image cannot be used; the message names the path."""


@dataclass(frozen=True)
class SignatureSet:
    """Signature images with labels; arrays are aligned, ``N`` samples.

    ``paths (N,)`` str, ``writers (N,)`` str (claimed writer, with the source prefix when sets are merged),
    ``genuine (N,)`` bool, ``groups (N,)`` str: same non-empty group = same written content by different
    writers (crossmedia names), "" otherwise.
    """

    paths: np.ndarray
    writers: np.ndarray
    genuine: np.ndarray
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.groups is None:
            object.__setattr__(self, "groups", np.full(len(self.paths), "", dtype=object))

    def __len__(self) -> int:
        return len(self.paths)

    def select(self, mask: np.ndarray) -> SignatureSet:
        return SignatureSet(self.paths[mask], self.writers[mask], self.genuine[mask], self.groups[mask])

    def only_writers(self, names: set[str] | None) -> SignatureSet:
        if names is None:
            return self
        return self.select(np.isin(self.writers, sorted(names)))

    def prefixed(self, prefix: str) -> SignatureSet:
        return SignatureSet(self.paths, np.array([f"{prefix}{w}" for w in self.writers], dtype=object), self.genuine,
                            np.array([f"{prefix}{g}" if g else "" for g in self.groups], dtype=object))

    @staticmethod
    def concat(sets: list[SignatureSet]) -> SignatureSet:
        return SignatureSet(*(np.concatenate([getattr(s, f) for s in sets]) for f in ("paths", "writers", "genuine",
                                                                                       "groups")))


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMG_EXT)


def _natural(name: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


def detect_layout(root: Path) -> str:
    if (root / "full_org").is_dir():
        return "cedar"
    subs = [d for d in root.iterdir() if d.is_dir()] if root.is_dir() else []
    if any((d / "genuine").is_dir() for d in subs):
        return "folders"
    return "flat"


def discover(root: str | Path, layout: str | None = None, writers: set[str] | None = None) -> SignatureSet:
    """List the signatures under ``root`` in ``layout`` (None: detect), restricted to ``writers`` names."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    layout = layout or detect_layout(root)
    if layout not in LAYOUTS:
        raise DataError(f"{root}: unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")
    rows: list[tuple[str, str, bool, str]] = []
    if layout == "cedar":
        for sub, gen in (("full_org", True), ("full_forg", False)):
            folder = root / sub
            if not folder.is_dir():
                raise DataError(f"{folder}: missing folder (cedar layout needs full_org/ and full_forg/)")
            for p in _images(folder):
                m = _CEDAR_RE.match(p.stem)
                if m:
                    rows.append((str(p), m.group(2), gen, ""))
    else:
        wdirs = sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: _natural(d.name))
        if not wdirs:
            raise DataError(f"{root}: no writer folders ({layout} layout: <root>/<writer>/...)")
        for d in wdirs:
            if layout == "flat":
                rows += [(str(p), d.name, True, "") for p in _images(d)]
                continue
            if layout == "crossmedia":
                for p in _images(d):
                    if p.stem.isdigit():
                        name = (int(p.stem) - 1) % 10 + 1
                        rows.append((str(p), f"{d.name}-{name}", True, f"name{name}"))
                continue
            if not (d / "genuine").is_dir():
                raise DataError(f"{d / 'genuine'}: missing folder (folders layout: <writer>/genuine/, /forged/)")
            rows += [(str(p), d.name, True, "") for p in _images(d / "genuine")]
            if (d / "forged").is_dir():
                rows += [(str(p), d.name, False, "") for p in _images(d / "forged")]
    if writers is not None and layout == "crossmedia":
        rows = [r for r in rows if r[1].rsplit("-", 1)[0] in writers]  # select by hand, not by hand-name
    elif writers is not None:
        known = {r[1] for r in rows}
        missing = sorted(writers - known, key=_natural)
        rows = [r for r in rows if r[1] in writers]
        if not rows:
            raise DataError(f"{root}: none of the requested writers found (e.g. {missing[:5]})")
    if not rows:
        raise DataError(f"{root}: no signature images found ({layout} layout)")
    rows.sort(key=lambda r: (_natural(r[1]), not r[2], _natural(Path(r[0]).name)))
    return SignatureSet(np.array([r[0] for r in rows], dtype=object), np.array([r[1] for r in rows], dtype=object),
                        np.array([r[2] for r in rows], dtype=bool), np.array([r[3] for r in rows], dtype=object))


def load_clean(paths: list[str] | np.ndarray, size: tuple[int, int], canvas: tuple[int, int] | None,
               workers: int = 1, pen: float = 1.0, **clean_kwargs: Any) -> np.ndarray:
    """Load and clean images -> ``(N, h, w) uint8`` (ink high, background 0); DataError names a bad file.
    ``pen`` != 1: each scan redrawn with a fainter or darker pen first (:func:`sigpipe.verifier.augment.redraw_pen`)."""
    from sigpipe.clean import clean_batch, load_image, to_grey
    from sigpipe.verifier.augment import redraw_pen

    images = []
    for p in paths:
        try:
            images.append(load_image(p))
        except Exception as e:  # noqa: BLE001 - any decoder failure becomes one clear message
            raise DataError(f"{p}: cannot read image ({e})") from e
    if pen != 1.0:
        images = [redraw_pen(to_grey(im), pen) for im in images]
    if not images:
        return np.zeros((0, *size), np.uint8)
    return np.asarray(clean_batch(images, size=tuple(size), canvas=tuple(canvas) if canvas else None,
                                  workers=workers, **clean_kwargs), dtype=np.uint8)


def _clean_version() -> str:
    """Hash of the cleaning code, so a change to clean.py invalidates cached arrays."""
    import sigpipe.clean as c

    return hashlib.sha1(Path(c.__file__).read_bytes()).hexdigest()[:10]


def cached_clean(sset: SignatureSet, size: tuple[int, int], canvas: tuple[int, int] | None, cache_dir: Path | None,
                 workers: int = 1, log: Callable[[str], None] | None = None, pen: float = 1.0,
                 **clean_kwargs: Any) -> np.ndarray:
    """:func:`load_clean` with a ``.npy`` cache keyed by paths, file sizes/mtimes, size, canvas, pen and clean.py."""
    if cache_dir is None:
        return load_clean(sset.paths, size, canvas, workers, pen=pen, **clean_kwargs)
    h = hashlib.sha1()
    for p in sset.paths:
        st = Path(p).stat()
        h.update(f"{p}|{st.st_size}|{int(st.st_mtime)}\n".encode())
    h.update(f"{tuple(size)}|{canvas}|{sorted(clean_kwargs.items())}|{_clean_version()}".encode())
    if pen != 1.0:  # (the key of a plain cleaning stays what it was, so existing caches stay valid)
        h.update(f"|pen={pen}".encode())
    path = Path(cache_dir) / f"clean-{size[0]}x{size[1]}-{h.hexdigest()[:16]}.npy"
    if path.is_file():
        return np.load(path)
    if log:
        log(f"cleaning {len(sset)} images -> {path}")
    arr = load_clean(sset.paths, size, canvas, workers, pen=pen, **clean_kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, arr)
    tmp.replace(path)
    return arr
