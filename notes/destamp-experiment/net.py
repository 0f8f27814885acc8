import sys
from pathlib import Path

import cv2
import numpy as np
import torch

HERE = Path(__file__).resolve().parent  # notes/destamp-experiment
ROOT, SHARED = HERE.parents[1], HERE.parents[2] / "shared" / "data"


# the product's network (sigpipe.destamp): the same modules, so weights trained here load there
sys.path.insert(0, str(ROOT))
from sigpipe.destamp import UNet  # noqa: E402


def grey(img):
    img = np.asarray(img)
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2GRAY)
    if img.dtype != np.uint8:
        img = (img / max(1, img.max()) * 255).astype(np.uint8)
    return img


def target(x, y, diff=10):
    t, _ = cv2.threshold(y, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return ((y.astype(np.int16) - x.astype(np.int16) > diff) & (y > t)).astype(np.float32)


@torch.no_grad()
def destamp(net, img, thr=0.5, min_share=0.0):
    """``min_share``: act only when the mask covers at least this share of the crop's dark (Otsu) pixels."""
    g = grey(img)
    h, w = g.shape
    H, W = -(-h // 8) * 8, -(-w // 8) * 8
    p = cv2.copyMakeBorder(g, 0, H - h, 0, W - w, cv2.BORDER_REPLICATE)
    m = torch.sigmoid(net(torch.from_numpy(p).float()[None, None] / 255.0))[0, 0, :h, :w].numpy() > thr
    if not m.any():
        return g
    t, _ = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if min_share > 0 and (m & (g <= t)).sum() < min_share * max(1, (g <= t).sum()):
        return g
    paper = np.median(g[(g > t) & ~m]) if ((g > t) & ~m).any() else 255
    out = g.copy()
    out[m] = np.uint8(paper)
    return out


def load(path):
    """A trained remover (``train.py``'s state dict), in eval mode."""
    net = UNet()
    net.load_state_dict(torch.load(path, weights_only=True))
    return net.eval()
