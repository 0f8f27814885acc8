import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent  # notes/destamp-experiment: net.py, and ROOT, SHARED
sys.path.insert(0, str(HERE))
from net import ROOT, UNet, target  # noqa: E402

torch.set_num_threads(2)
torch.manual_seed(0)
X, Y = [], []
for f in sys.argv[2:]:
    d = np.load(f, allow_pickle=True)
    X += list(d["x"])
    Y += list(d["y"])
M = [target(x, y) for x, y in zip(X, Y, strict=False)]
print(len(X), "pairs; mask share", np.mean([m.mean() for m in M]))
rng = np.random.default_rng(0)
net = UNet()
opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
SCALE = bool(os.environ.get("SCALE"))
OUT = os.environ.get("OUT", str(ROOT / ".state" / "destamp" / "unet.pt"))
PH, PW, B, steps = 96, 192, 12, int(sys.argv[1])
sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
t0 = time.time()
for step in range(steps):
    xb, mb = [], []
    for _ in range(B):
        i = rng.integers(len(X))
        x, m = X[i], M[i]
        if SCALE:
            f = float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
            x = cv2.resize(x, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
            m = cv2.resize(m, (x.shape[1], x.shape[0]), interpolation=cv2.INTER_NEAREST)
        h, w = x.shape
        if h < PH or w < PW:
            x = np.pad(x, ((0, max(0, PH - h)), (0, max(0, PW - w))), mode="edge")
            m = np.pad(m, ((0, max(0, PH - h)), (0, max(0, PW - w))))
            h, w = x.shape
        y0, x0 = rng.integers(h - PH + 1), rng.integers(w - PW + 1)
        xs, ms = x[y0 : y0 + PH, x0 : x0 + PW].astype(np.float32) / 255, m[y0 : y0 + PH, x0 : x0 + PW]
        if rng.random() < 0.5:
            xs, ms = xs[:, ::-1], ms[:, ::-1]
        g = rng.uniform(0.85, 1.15)
        xs = np.clip((xs - 0.5) * g + 0.5 + rng.uniform(-0.05, 0.05), 0, 1)
        xb.append(xs.copy())
        mb.append(ms.copy())
    xb = torch.from_numpy(np.stack(xb))[:, None]
    mb = torch.from_numpy(np.stack(mb))[:, None]
    loss = F.binary_cross_entropy_with_logits(net(xb), mb, pos_weight=torch.tensor(2.0))
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    if step % 100 == 0 or step == steps - 1:
        print(step, round(loss.item(), 4), round(time.time() - t0), flush=True)
torch.save(net.state_dict(), OUT)
