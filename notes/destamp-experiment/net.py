from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent  # notes/destamp-experiment
ROOT, SHARED = HERE.parents[1], HERE.parents[2] / "shared" / "data"


def block(i, o):
    return nn.Sequential(
        nn.Conv2d(i, o, 3, padding=1),
        nn.BatchNorm2d(o),
        nn.ReLU(inplace=True),
        nn.Conv2d(o, o, 3, padding=1),
        nn.BatchNorm2d(o),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    def __init__(self, c=(8, 16, 32, 64)):
        super().__init__()
        self.enc = nn.ModuleList([block(1, c[0])] + [block(c[i], c[i + 1]) for i in range(len(c) - 1)])
        self.dec = nn.ModuleList([block(c[i + 1] + c[i], c[i]) for i in reversed(range(len(c) - 1))])
        self.head = nn.Conv2d(c[0], 1, 1)

    def forward(self, x):
        skips = []
        for i, e in enumerate(self.enc):
            x = e(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for d, s in zip(self.dec, reversed(skips[:-1]), strict=False):
            x = d(torch.cat([F.interpolate(x, size=s.shape[-2:], mode="bilinear", align_corners=False), s], 1))
        return self.head(x)


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
def destamp(net, img, thr=0.5):
    g = grey(img)
    h, w = g.shape
    H, W = -(-h // 8) * 8, -(-w // 8) * 8
    p = cv2.copyMakeBorder(g, 0, H - h, 0, W - w, cv2.BORDER_REPLICATE)
    m = torch.sigmoid(net(torch.from_numpy(p).float()[None, None] / 255.0))[0, 0, :h, :w].numpy() > thr
    if not m.any():
        return g
    t, _ = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    paper = np.median(g[(g > t) & ~m]) if ((g > t) & ~m).any() else 255
    out = g.copy()
    out[m] = np.uint8(paper)
    return out


def load(path):
    """A trained remover (``train.py``'s state dict), in eval mode."""
    net = UNet()
    net.load_state_dict(torch.load(path, weights_only=True))
    return net.eval()
