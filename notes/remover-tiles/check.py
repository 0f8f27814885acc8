"""Session 30: the stamp remover's mask in tiles against the whole image at once, on stored pages.

    .venv/bin/python notes/remover-tiles/check.py LAKE [LAKE ...] [--pages N] [--regions]

For each of the first N pages of each lake (``pages`` rows, the page image as stored, at its dpi): the mask of the
whole page (``StampRemover._sure`` on it padded, as ``mask`` computed it before 0.6.3) and ``mask`` (tiles over
TILE + 2 TILE_MARGIN px), the pixels where they differ, and the time of each. ``--regions``: the page's
signature boxes grown as ``paint_regions`` grows them, instead of the whole page.
"""

import argparse
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from sigpipe.runtime import configure  # noqa: E402

configure()
import torch  # noqa: E402

from sigpipe import pdf  # noqa: E402
from storage import db  # noqa: E402
from tasks import models  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("lakes", nargs="+")
ap.add_argument("--pages", type=int, default=20)
ap.add_argument("--regions", action="store_true")
a = ap.parse_args()
torch.set_num_threads(1)
r = models.verifier(str(Path(__file__).resolve().parents[2] / "models" / "verifier-signet"))[0].destamp


def whole(grey):
    h, w = grey.shape
    m = r._multiple
    H, W = -(-h // m) * m, -(-w // m) * m
    return r._sure(cv2.copyMakeBorder(grey, 0, H - h, 0, W - w, cv2.BORDER_REPLICATE))[:h, :w]


n = diff = px = 0
t_whole = t_tiles = 0.0
for lake in a.lakes:
    con = db.connect(lake)
    rows = con.execute("SELECT p.page_id, p.image_path, p.dpi, list(struct_pack(x0 := s.x0, y0 := s.y0, x1 := s.x1, "
                       "y1 := s.y1)) FILTER (WHERE s.sig_id IS NOT NULL) FROM pages p LEFT JOIN signatures s "
                       "USING (doc_id, page) GROUP BY ALL ORDER BY p.page_id LIMIT $n", {"n": a.pages}).fetchall()
    for _, path, dpi, boxes in rows:
        page = pdf.decode_page(Path(lake) / path)
        if dpi != r.dpi:
            f = r.dpi / dpi
            page = cv2.resize(page, (round(page.shape[1] * f), round(page.shape[0] * f)), interpolation=cv2.INTER_AREA)
        if a.regions:
            h, w = page.shape
            ims = []
            for b in boxes or []:
                gx, gy = (b["x1"] - b["x0"]) * 0.5, (b["y1"] - b["y0"]) * 0.5
                ims.append(page[int(max(0, b["y0"] - gy)):int(min(h, b["y1"] + gy)),
                                int(max(0, b["x0"] - gx)):int(min(w, b["x1"] + gx))])
        else:
            ims = [page]
        for im in ims:
            if min(im.shape) < 8:
                continue
            t0 = time.perf_counter()
            m0 = whole(im)
            t1 = time.perf_counter()
            m1 = r.mask(im)
            t2 = time.perf_counter()
            t_whole += t1 - t0
            t_tiles += t2 - t1
            n += 1
            diff += int((m0 != m1).sum())
            px += m0.size
print(f"{n} images, {px} px: {diff} mask pixels differ; whole {t_whole:.1f} s, tiles {t_tiles:.1f} s")
