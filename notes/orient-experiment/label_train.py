"""Upright copies of the signature-detection train split's pages whose quarter turn a page orienter is sure of.

    .venv/bin/python notes/orient-experiment/label_train.py ORIENTER.pt TRAIN_IMAGES VALID_IMAGES OUT
        [--side 256] [--sure 0.9]

The train split holds about 5 augmented copies of each of 382 source pages, some turned by quarter turns
(Roboflow's augmentation), with no record of which. (Aligning each source's copies to one another did not work:
the copies are cropped, sheared and re-lit so much that their thumbnails often correlate better at a wrong
turn.) Each image is given to the orienter at its four quarter turns; the four answers are combined (the
log-probability of "the image is the upright page turned by k" summed over them), and an image is kept when the
combined probability of its best turn is at least --sure. It is written turned upright to OUT/<name>.jpg;
OUT/labels.json records every image's turn and probability. Images of sources that also have a copy in the
valid split are left out (the valid split is where the orienter is measured). On the held-out valid fold of
the orienter used (one network, no combining), pages answered with p >= 0.9 were right 99.8% of the time.
"""

import argparse
import json
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from sigpipe.orient import Orienter, OrientNet, combine, turn_page  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("weights", type=Path)
ap.add_argument("train", type=Path)
ap.add_argument("valid", type=Path)
ap.add_argument("out", type=Path)
ap.add_argument("--side", type=int, default=256)
ap.add_argument("--sure", type=float, default=0.9)
a = ap.parse_args()

import torch  # noqa: E402

net = OrientNet()
net.load_state_dict(torch.load(a.weights, map_location="cpu", weights_only=True))
net.eval()
orienter = Orienter(net=net, side=a.side, conf=1.0)
valid_sources = {f.name.split(".rf.")[0] for f in a.valid.glob("*.jpg")}
a.out.mkdir(parents=True, exist_ok=True)
labels, kept, turned = {}, 0, 0
files = [f for f in sorted(a.train.glob("*.jpg")) if f.name.split(".rf.")[0] not in valid_sources]
for f in files:
    img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
    post = combine(orienter.probabilities([turn_page(img, j) for j in range(4)]))  # row j: turned by j more
    k = int(post.argmax())
    labels[f.name] = {"turn": k, "p": round(float(post[k]), 4)}
    if post[k] >= a.sure:
        cv2.imwrite(str(a.out / f.name), turn_page(img, -k), [cv2.IMWRITE_JPEG_QUALITY, 95])
        kept += 1
        turned += k != 0
(a.out / "labels.json").write_text(json.dumps(labels, indent=1) + "\n")
print(f"{len(files)} images of sources not in valid; kept {kept} (p >= {a.sure}), {turned} of them turned")
