"""Page orientation: the quarter turn that makes a scanned page upright, from a small CNN trained here.

A page fed into the scanner upside down or sideways reaches the detector turned, and a signature cut from it
reaches the verifier turned: on ``bench/real_documents.py``'s documents of CEDAR writers turned by 180 degrees,
46 of 85 genuine documents were called forgery (16 upright), and a forged CEDAR scan turned by 90 degrees scored
over its writer's threshold 15% of the time (3% upright). The verifier cannot tell the turn itself (a genuine
scan turned by 180 degrees still passed 13% of the time), so the page decides it: printed text, rules, headers
and the page's layout, which a turned page shows turned.

:class:`OrientNet` sees the whole page shrunk into a ``side`` x ``side`` square (aspect kept, ink high, paper 0)
and says which of four quarter turns was applied to an upright page to give it: class ``k`` means the page is
``np.rot90(upright, k)`` (counter-clockwise quarter turns), so ``np.rot90(page, -k)`` puts it back. It is
trained on :mod:`sigpipe.synth` pages (cheques, letters, contracts, forms) and real scanned pages, each at random
turns, and measured on real pages it never saw (cross-validation: ``notes/orient-experiment``). :class:`Orienter`
turns a page only when the network is sure (the card's ``conf``): a page it is unsure of is left as it came, as
before.

The detector's card names the orienter (``orienter``: weights, sha256, architecture, side, conf), as the
verifier's names its stamp remover: a detector is what turns stored pages into signature boxes, and its
version changes when that does (:func:`attach`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

__all__ = ["OrientNet", "Orienter", "PageTurn", "TrainConfig", "at_conf", "at_turns", "attach", "cascade", "combine",
           "evaluate_images", "page_square", "pick_conf", "single_to_turns", "synth_pages", "train", "turn_box",
           "turn_page"]

TURNS = (0, 1, 2, 3)  # counter-clockwise quarter turns, as np.rot90


def page_square(page: np.ndarray, side: int) -> np.ndarray:
    """``(H, W) uint8`` grey page -> ``(side, side) float32`` network input: shrunk so its long side is ``side``
    (aspect kept, area interpolation), inverted so ink is high, the paper's level (the median) taken off and
    clipped at 0, scaled to [0, 1], centred on a zero square. Turning the page by quarter turns turns the
    square the same way (the padding is centred)."""
    if page.ndim != 2 or page.dtype != np.uint8 or min(page.shape) < 1:
        raise ValueError(f"page must be a non-empty (H, W) uint8 image, got {page.dtype} {page.shape}")
    h, w = page.shape
    s = side / max(h, w)
    # sizes of the square's parity, so the padding is the same on both sides and a turned page gives the
    # turned square
    nh, nw = (max(2 - side % 2, v - (side - v) % 2) for v in (round(h * s), round(w * s)))
    small = cv2.resize(page, (nw, nh), interpolation=cv2.INTER_AREA)
    paper = float(np.median(small))
    ink = np.clip((paper - small.astype(np.float32)) / max(paper, 1.0), 0.0, 1.0)
    out = np.zeros((side, side), np.float32)
    y, x = (side - nh) // 2, (side - nw) // 2
    out[y:y + nh, x:x + nw] = ink
    return out


def turn_page(page: np.ndarray, k: int) -> np.ndarray:
    """``page`` turned by ``k`` counter-clockwise quarter turns (contiguous; ``k`` = 0 returns it as it is)."""
    return page if k % 4 == 0 else np.ascontiguousarray(np.rot90(page, k % 4))


def turn_box(xyxy: Sequence[float], k: int, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """A box ``(x0, y0, x1, y1)`` in pixels of an ``(H, W)`` image -> the same box in the image turned by ``k``
    counter-clockwise quarter turns (``turn_page(img, k)``): pixel edges map exactly."""
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    h, w = shape
    k %= 4
    if k == 1:
        return y0, w - x1, y1, w - x0
    if k == 2:
        return w - x1, h - y1, w - x0, h - y0
    if k == 3:
        return h - y1, x0, h - y0, x1
    return x0, y0, x1, y1


class OrientNet:
    """Factory for the network (torch is imported only when one is built)."""

    def __new__(cls, widths: Sequence[int] = (16, 32, 48, 64, 96), grid: int = 4) -> Any:  # type: ignore[misc]
        import torch.nn as nn

        layers: list[nn.Module] = []
        c = 1
        for w in widths:  # each stage halves the page: conv s2 + conv
            layers += [nn.Conv2d(c, w, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        # a coarse grid keeps where things are on the page (a letterhead on top, a signature under the text),
        # which a global pool would lose
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(grid), nn.Flatten(), nn.Dropout(0.2),
                             nn.Linear(c * grid * grid, 4))


# -- the model in a detector's folder

def combine(answers: np.ndarray) -> np.ndarray:
    """``(4, 4)`` answers for one page, row ``j`` the network's probabilities for the page turned by ``j`` more
    quarter turns -> ``(4,)`` posterior of the page's own turn: class ``c`` scores the sum over ``j`` of
    ``log answers[j, (c + j) % 4]`` (each answer says the same thing about the page), normalised."""
    logp = np.log(np.clip(answers, 1e-6, 1.0))
    score = np.array([sum(logp[j, (c + j) % 4] for j in range(4)) for c in range(4)])
    post = np.exp(score - score.max())
    return post / post.sum()


def cascade(answers: np.ndarray, gate: float) -> np.ndarray:
    """The orienter's decision probabilities from every page's four answers: ``answers`` ``(4, N, 4)``, row
    ``[j, n]`` the network on page ``n`` turned by ``j`` more -> ``(N, 4)``: a page whose first answer gives
    "as it came" at least ``gate`` stays (probability 1 on turn 0); the others get :func:`combine`'s posterior."""
    out = np.zeros(answers.shape[1:], np.float64)
    for n in range(answers.shape[1]):
        out[n] = np.eye(4)[0] if answers[0, n, 0] >= gate else combine(answers[:, n])
    return out


def at_turns(answers: np.ndarray, gate: float) -> np.ndarray:
    """``answers`` ``(4 turns t, 4 more j, N, 4)``: the network on each page turned by ``t`` and then ``j`` more ->
    the orienter's decision probabilities ``(4 turns, N, 4)`` (:func:`cascade`), for :func:`at_conf` and
    :func:`pick_conf`. The answers for page turned by ``t`` then ``j`` are those for ``t + j``, so a
    ``(4, N, 4)`` array of single answers at the four turns gives them all: see :func:`single_to_turns`."""
    return np.stack([cascade(answers[t], gate) for t in range(answers.shape[0])])


def single_to_turns(single: np.ndarray) -> np.ndarray:
    """``(4, N, 4)`` answers for each page at its four turns -> ``(4 t, 4 j, N, 4)`` (turned by t, then j more)."""
    return np.stack([np.stack([single[(t + j) % 4] for j in range(4)]) for t in range(4)])


class PageTurn(NamedTuple):
    """The orienter's answer for one page (:meth:`Orienter.decide`): ``k`` counter-clockwise quarter turns give
    the page from an upright one, ``p`` the probability of that answer, ``sure`` False when the page was left as it
    came without the network being sure it is upright. On 420 real pages held out of training (cross-validation,
    ``notes/orient-experiment``), the orienter was not sure of 15 upright pages (3.6%) and of 138 of the 147 turned
    pages it left as they came (94%): the audit does not decide on the signatures of a page that may lie turned."""

    k: int
    p: float
    sure: bool


@dataclass
class Orienter:
    """A trained orientation network and its card block (``side``, ``conf``, ``gate``, ``arch_args``).

    Each page gets one answer; a page the network does not call upright with at least ``gate`` is asked again
    turned by one, two and three quarter turns, and the four answers are combined (:func:`combine`). The page is
    turned when a turn other than none then has at least ``conf``. On real pages held out of training, combining
    the answers stood more turned pages upright than one answer did, at no upright page turned (see the card);
    the gate keeps most upright pages at one answer."""

    net: Any
    side: int
    conf: float
    gate: float = 0.5

    @classmethod
    def from_card(cls, folder: str | Path, block: dict[str, Any]) -> Orienter:
        import torch

        from sigpipe.weights import companion_weights

        path = companion_weights(folder, block, "page orienter", "orienter")
        net = OrientNet(**block.get("arch_args", {}))
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        net.eval()
        return cls(net=net, side=int(block["side"]), conf=float(block["conf"]), gate=float(block.get("gate", 0.5)))

    def _answers(self, squares: np.ndarray, batch: int = 32) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(squares), batch):
                x = torch.from_numpy(np.ascontiguousarray(squares[i:i + batch]))[:, None]
                out.append(torch.softmax(self.net(x).float(), 1).numpy())
        return np.concatenate(out) if out else np.zeros((0, 4), np.float32)

    def probabilities(self, pages: Sequence[np.ndarray], batch: int = 32) -> np.ndarray:
        """Pages ``[(H, W) uint8]`` -> ``(N, 4)`` one answer each: the probabilities of each turn (class k: the page
        is the upright page turned by k counter-clockwise quarter turns)."""
        if not len(pages):
            return np.zeros((0, 4), np.float32)
        return self._answers(np.stack([page_square(p, self.side) for p in pages]), batch)

    def decide(self, pages: Sequence[np.ndarray]) -> list[PageTurn]:
        """Per page its :class:`PageTurn`: turn it by ``-k`` quarter turns to stand it upright (``turn_page(page,
        -k)``); ``k`` is 0 unless a turn other than none has at least the card's ``conf`` (the class description).
        A page asked four times whose combined answer gives no turn, none included, at least ``conf`` is left as
        it came and not ``sure``: it may still lie turned."""
        if not len(pages):
            return []
        squares = np.stack([page_square(p, self.side) for p in pages])
        first = self._answers(squares)
        ask = [i for i in range(len(pages)) if first[i, 0] < self.gate]
        out = [PageTurn(0, float(first[i, 0]), True) for i in range(len(pages))]
        if ask:  # a square turned is the turned page's square (page_square), so the network sees the same thing
            more = self._answers(np.stack([np.rot90(squares[i], j) for i in ask for j in (1, 2, 3)]))
            for n, i in enumerate(ask):
                post = combine(np.vstack([first[i:i + 1], more[3 * n:3 * n + 3]]))
                k = int(post[1:].argmax()) + 1
                out[i] = (PageTurn(k, float(post[k]), True) if post[k] >= self.conf
                          else PageTurn(0, float(post[0]), bool(post[0] >= self.conf)))
        return out

    def turns(self, pages: Sequence[np.ndarray]) -> list[tuple[int, float]]:
        """Per page ``(k, p)`` of :meth:`decide`: the turn and the probability of the turn the page is given."""
        return [(t.k, t.p) for t in self.decide(pages)]


# -- training data: sigpipe.synth pages at random turns

def synth_pages(n: int, seed: int, side: int, dpi: int = 100, keep: int = 2) -> np.ndarray:
    """``n`` upright :mod:`sigpipe.synth` pages (cheque, letter, contract, form; signed, unsigned and contract body
    pages, notes and stamps, the scanner's noise) shrunk so the long side is ``keep * side`` px (room for the
    training's stretch and crop), as ``(n,)`` object array of ``uint8`` images. Deterministic in ``seed``."""
    from sigpipe.synth.dataset import DOC_KIND_P, make_forgers, make_signers
    from sigpipe.synth.documents import compose_page

    pool = make_signers(48, seed, purpose=21)
    forgers = make_forgers(12, seed, purpose=22)
    kinds, p_kind = list(DOC_KIND_P), list(DOC_KIND_P.values())
    out = np.empty(n, dtype=object)
    for j in range(n):
        r = np.random.default_rng([seed, 23, j])
        kind = kinds[int(r.choice(len(kinds), p=p_kind))]
        u = r.random()
        if u < 0.12:
            page = compose_page(kind, r, pool, n_signatures=0, dpi=dpi, note=True, stamp=bool(r.random() < 0.6))
        elif u < 0.3 and kind == "contract":
            page = compose_page(kind, r, pool, dpi=dpi, role=str(r.choice(["first", "body"])))
        else:
            page = compose_page(kind, r, pool, forgers=forgers, forged_fraction=0.3, dpi=dpi)
        img = page.image
        s = keep * side / max(img.shape)
        out[j] = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))),
                            interpolation=cv2.INTER_AREA) if s < 1 else img
    return out


def _augment(page: np.ndarray, r: np.random.Generator) -> np.ndarray:
    """A scan's variations on an upright page: stretched (pages squeezed into a fixed shape), a margin cut or
    added, a small tilt, bilevel (fax-like) or lighter/darker, black scanner edges."""
    h, w = page.shape
    if r.random() < 0.5:  # stretch one side
        f = float(np.exp(r.uniform(-0.45, 0.45)))
        page = cv2.resize(page, (max(8, round(w * f)), h), interpolation=cv2.INTER_AREA)
        h, w = page.shape
    if r.random() < 0.3:  # part of the page: a cut margin
        y0, x0 = int(r.uniform(0, 0.12) * h), int(r.uniform(0, 0.12) * w)
        y1, x1 = h - int(r.uniform(0, 0.12) * h), w - int(r.uniform(0, 0.12) * w)
        page = page[y0:y1, x0:x1]
        h, w = page.shape
    if r.random() < 0.5:  # tilt
        m = cv2.getRotationMatrix2D((w / 2, h / 2), float(r.uniform(-4, 4)), 1.0)
        page = cv2.warpAffine(page, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=int(np.median(page)))
    u = r.random()
    if u < 0.25:  # bilevel scan
        _, page = cv2.threshold(page, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    elif u < 0.6:
        a, b = r.uniform(0.7, 1.3), r.uniform(-30, 30)
        page = np.clip(page.astype(np.float32) * a + b, 0, 255).astype(np.uint8)
    if r.random() < 0.15:  # a black scanner edge on one side
        page = page.copy()
        t = max(1, int(r.uniform(0.01, 0.05) * min(h, w)))
        side = int(r.integers(4))
        if side == 0:
            page[:t] = 0
        elif side == 1:
            page[-t:] = 0
        elif side == 2:
            page[:, :t] = 0
        else:
            page[:, -t:] = 0
    return page


@dataclass
class TrainConfig:
    out: Path  # weights file (a state dict) and <out>.json (the run's record)
    pages: int = 6000
    val_pages: int = 600
    seed: int = 0
    side: int = 256
    epochs: int = 12
    batch: int = 32
    lr: float = 2e-3
    threads: int = 2
    # real upright page images (a folder, or a .txt listing image paths): trained on, each ``real_repeat`` times an
    # epoch at random turns and variations
    real_train: Path | None = None
    real_repeat: int = 6
    real_val: Path | None = None  # real upright page images measured each epoch (never trained on, nothing chosen)
    gate: float = 0.5  # Orienter.gate, recorded with the threshold chosen for it
    arch_args: dict[str, Any] = field(default_factory=dict)


def _batches(pages: np.ndarray, side: int, batch: int, r: np.random.Generator, augment: bool
             ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of (inputs ``(B, 1, side, side)``, turns ``(B,)``): every page once, in a random order, at a random
    quarter turn (augmented first when ``augment``)."""
    order = r.permutation(len(pages))
    for i in range(0, len(order), batch):
        xs, ys = [], []
        for j in order[i:i + batch]:
            p = _augment(pages[j], r) if augment else pages[j]
            k = int(r.integers(4))
            xs.append(page_square(turn_page(p, k), side))
            ys.append(k)
        yield np.stack(xs)[:, None], np.array(ys)


_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


def _real_images(source: Path, limit: int | None = None, keep: int | None = None) -> list[np.ndarray]:
    """Page images from a folder (searched recursively) or a ``.txt`` file listing them (one path a line, relative
    to the file's folder), sorted; with ``keep`` shrunk so the long side is at most ``keep`` px."""
    source = Path(source)
    if source.is_file() and source.suffix == ".txt":
        files = [source.parent / line.strip() for line in source.read_text().splitlines() if line.strip()]
    elif source.is_dir():
        files = sorted(f for f in source.rglob("*") if f.suffix.lower() in _IMAGE_SUFFIXES)
    else:
        raise ValueError(f"{source}: neither a folder of page images nor a .txt list of them")
    files = files[:limit]
    if not files:
        raise ValueError(f"{source}: no page images ({', '.join('*' + x for x in _IMAGE_SUFFIXES)})")
    out = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise ValueError(f"{f}: not a readable image")
        if keep and max(img.shape) > keep:
            s = keep / max(img.shape)
            img = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))),
                             interpolation=cv2.INTER_AREA)
        out.append(img)
    return out


def _accuracy(net: Any, pages: Sequence[np.ndarray], side: int) -> dict[str, Any]:
    """Every page at each of the four turns, one answer each -> accuracy (overall and per turn) and the answers
    ``probs`` ``(4 turns, N, 4)``, from which :func:`at_turns` gives the orienter's decisions."""
    net.eval()
    asker = Orienter(net=net, side=side, conf=1.0)
    probs = np.stack([asker.probabilities([turn_page(p, k) for p in pages], batch=64) for k in TURNS])  # (4, N, 4)
    pred = probs.argmax(2)
    truth = np.array(TURNS)[:, None]
    return {"accuracy": float((pred == truth).mean()),
            "per_turn": [round(float((pred[k] == k).mean()), 4) for k in TURNS], "probs": probs}


def pick_conf(probs: np.ndarray, max_false_turn: float = 0.002) -> float:
    """The lowest ``conf`` at which at most ``max_false_turn`` of upright pages get turned, from decision
    probabilities ``(4 turns, N, 4)`` on validation pages (:func:`at_turns`), between 0.5 and 0.999. (The card's
    threshold was chosen on real pages held out in cross-validation instead: ``notes/orient-experiment``.)"""
    up = probs[0]  # upright pages: any turn k>0 given with p >= conf turns them wrongly
    worst = np.sort(np.max(up[:, 1:], axis=1))[::-1]
    n_allowed = int(math.floor(max_false_turn * len(worst)))
    conf = float(worst[n_allowed]) + 1e-4 if n_allowed < len(worst) else 0.5
    return float(min(max(conf, 0.5), 0.999))


def at_conf(probs: np.ndarray, conf: float) -> dict[str, float]:
    """Decision probabilities ``(4 turns, N, 4)`` -> the shares when a page is turned only at ``conf``: upright
    pages turned, turned pages put right, turned pages left as they came, turned pages turned wrongly."""
    up = probs[0]
    wrong_up = float((np.max(up[:, 1:], axis=1) >= conf).mean())
    right = left = wrong = 0
    n = 0
    for k in (1, 2, 3):
        p = probs[k]
        best = p[:, 1:].argmax(1) + 1
        sure = p[np.arange(len(p)), best] >= conf
        right += int((sure & (best == k)).sum())
        wrong += int((sure & (best != k)).sum())
        left += int((~sure).sum())
        n += len(p)
    return {"conf": round(conf, 4), "upright_turned": round(wrong_up, 4), "turned_put_right": round(right / n, 4),
            "turned_left": round(left / n, 4), "turned_turned_wrongly": round(wrong / n, 4)}


def train(cfg: TrainConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train on ``cfg.pages`` synthetic pages and ``cfg.real_train``'s real ones (validation on ``cfg.val_pages``
    synthetic pages of other draws), keep the epoch with the best validation accuracy (the latest among equals),
    choose ``conf`` on the validation pages, write the state dict to ``cfg.out`` and the record to
    ``<out>.json``; returns the record."""
    import torch

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    pages = synth_pages(cfg.pages, cfg.seed * 2 + 1, cfg.side)
    n_real = 0
    if cfg.real_train:
        real_pages = _real_images(cfg.real_train, keep=2 * cfg.side)
        n_real = len(real_pages)
        extra = np.empty(n_real * cfg.real_repeat, dtype=object)
        for i in range(cfg.real_repeat):
            extra[i * n_real:(i + 1) * n_real] = real_pages
        pages = np.concatenate([pages, extra])
    val = list(synth_pages(cfg.val_pages, cfg.seed * 2 + 2, cfg.side))
    real = _real_images(cfg.real_val) if cfg.real_val else None
    log(f"{cfg.pages} synthetic and {n_real} real training pages (each real one {cfg.real_repeat} times an epoch), "
        f"{len(val)} validation pages, in {time.perf_counter() - t0:.0f} s")
    net = OrientNet(**cfg.arch_args)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    steps = cfg.epochs * math.ceil(len(pages) / cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.1)
    lossf = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    r = np.random.default_rng(cfg.seed)
    best, history = None, []
    for epoch in range(cfg.epochs):
        net.train()
        tot, n = 0.0, 0
        for xs, ys in _batches(pages, cfg.side, cfg.batch, r, augment=True):
            loss = lossf(net(torch.from_numpy(xs)), torch.from_numpy(ys))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(ys)
            n += len(ys)
        v = _accuracy(net, val, cfg.side)
        row = {"epoch": epoch + 1, "loss": round(tot / n, 4), "val_accuracy": round(v["accuracy"], 4),
               "val_per_turn": v["per_turn"], "s": round(time.perf_counter() - t0)}
        if real is not None:
            rv = _accuracy(net, real, cfg.side)
            row |= {"real_accuracy": round(rv["accuracy"], 4), "real_per_turn": rv["per_turn"]}
        history.append(row)
        log(json.dumps(row))
        # the best synthetic validation accuracy, the latest epoch among equals: synthetic pages are told apart
        # early (1.0 from the second or third epoch) while real ones keep improving to the schedule's end
        if best is None or v["accuracy"] >= best[0]:
            best = (v["accuracy"], {k: t.detach().clone() for k, t in net.state_dict().items()}, v["probs"], epoch + 1)
    assert best is not None
    net.load_state_dict(best[1])
    decided = at_turns(single_to_turns(best[2]), cfg.gate)
    conf = pick_conf(decided)
    record: dict[str, Any] = {"side": cfg.side, "arch_args": cfg.arch_args, "conf": conf, "gate": cfg.gate,
                              "best_epoch": best[3],
                              "val": {"pages": len(val), "accuracy": round(best[0], 4), **at_conf(decided, conf)},
                              "history": history, "config": {k: str(v) if isinstance(v, Path) else v
                                                             for k, v in cfg.__dict__.items()},
                              "train_s": round(time.perf_counter() - t0)}
    if real is not None:
        rv = _accuracy(net, real, cfg.side)
        record["real_val"] = {"source": str(cfg.real_val), "pages": len(real), "accuracy": round(rv["accuracy"], 4),
                              "per_turn": rv["per_turn"],
                              **at_conf(at_turns(single_to_turns(rv["probs"]), cfg.gate), conf)}
        np.save(f"{cfg.out}.real_val_probs.npy", rv["probs"])  # (4 turns, pages, 4): for choosing conf across folds
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), cfg.out)
    Path(f"{cfg.out}.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def evaluate_images(orienter: Orienter, folder: Path, limit: int | None = None) -> dict[str, Any]:
    """A folder of upright page images, each turned four ways, through ``orienter`` at its card's ``conf``."""
    pages = _real_images(folder, limit)
    acc = _accuracy(orienter.net, pages, orienter.side)
    return {"folder": str(folder), "pages": len(pages), "one_answer_accuracy": round(acc["accuracy"], 4),
            "one_answer_per_turn": acc["per_turn"], "gate": orienter.gate,
            **at_conf(at_turns(single_to_turns(acc["probs"]), orienter.gate), orienter.conf)}


def attach(detector: str | Path, weights: str | Path, out: str | Path, record: dict[str, Any],
           version: str | None = None, command: str | None = None, conf: float | None = None,
           about: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write detector folder ``out``: ``detector``'s card and weights with the page orienter ``weights`` (trained by
    :func:`train`, its ``record``) named in the card; a new version unless given. ``conf``: the turn decision's
    threshold instead of the record's (chosen elsewhere, e.g. on cross-validation folds); ``about``: ``{training:
    {...}, measured: {...}}`` merged into the card's orienter block. Returns the card."""
    from sigpipe.weights import attach_companion

    card = attach_companion(detector, weights, out, "orienter", "orient.pt", {
        "arch": "orientnet", "arch_args": record["arch_args"],
        "side": record["side"], "conf": float(record["conf"] if conf is None else conf),
        "gate": float(record.get("gate", 0.5)),
        "how": "the stored page (as the detector gets it, decoded reduced) shrunk into a side x side square (aspect "
               "kept, ink high, paper 0) -> 4 classes: the counter-clockwise quarter turns that made it from an "
               "upright page. One answer a page; a page given 'as it came' under gate is asked again turned by 1, "
               "2 and 3 quarter turns and the four answers combined (sigpipe.orient.combine); it is turned back "
               "before detection only when a turn other than none then has p >= conf, and its crops are cut from "
               "the upright page (sigpipe.orient.Orienter)",
        "training": {**{k: record[k] for k in ("config", "best_epoch", "train_s") if k in record},
                     **(about or {}).get("training", {})},
        # the training record's own figures, at the record's threshold (chosen on its synthetic validation pages)
        "measured": {**{f"training_record_{k}": {**record[k], "at_the_records_conf": record["conf"]}
                        for k in ("val", "real_val") if k in record},
                     **(about or {}).get("measured", {})},
    }, version=version, command=command, carry=("README.md",))
    _readme_section(Path(out) / "README.md", card.data)
    return card.data


_README_HEADING = "## Page orienter"


def _readme_section(readme: Path, card: dict[str, Any]) -> None:
    """The model folder's README with its page orienter section (written anew; the rest kept)."""
    text = readme.read_text() if readme.is_file() else f"# {card['name']}\n"
    if _README_HEADING in text:
        head, _, rest = text.partition(_README_HEADING)
        nxt = rest.find("\n## ")
        text = head + (rest[nxt + 1:] if nxt >= 0 else "")
    o = card["orienter"]
    m = o.get("measured", {})
    lines = [f"{_README_HEADING} (version {card['version']})",
             f"Pages are turned upright before detection by a small CNN (`sigpipe.orient`, `{o['weights']}`, "
             f"sha256 {o['sha256'][:12]}...) that sees the page shrunk "
             f"into {o['side']} x {o['side']} px and names one of four quarter turns; a page it does not call "
             f"upright with p >= {o.get('gate', 0.5)} is asked again at the three other turns and the four answers "
             f"combined, and a page is turned only when a turn other than none has p >= {o['conf']:.6f}. Boxes "
             "stay in the stored page's pixels "
             "(`signatures.page_turn` and `detections.page_turn` record the turn); crops are cut from the upright "
             "page. The YOLO weights are those of version "
             f"{o['from']['version']} (sha256 {o['from']['sha256'][:12]}...).", ""]
    for k, v in m.items():
        lines.append(f"- {k}: `{json.dumps(v)}`")
    if o.get("command"):
        lines.append(f"\nAttached by `{o['command']}`.")
    readme.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n")
