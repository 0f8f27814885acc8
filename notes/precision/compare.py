"""Claims decided differently by two lakes of the same documents (bench/real_documents.py --out), and how far the
detector's boxes and the verifier's embeddings moved between them.

    .venv/bin/python notes/precision/compare.py .state/rd/v4-101/lake .state/rd/bf16-101/lake
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import storage  # noqa: E402


def _read(lake: str) -> tuple[dict, dict, dict]:
    con = storage.connect(lake)
    try:
        verdicts = {(r["document"], r["claimed_signer"]): r for r in storage.query(
            con, "SELECT document, claimed_signer, decision, score, threshold FROM verdicts").to_pylist()}
        boxes = {r["sig_id"]: r for r in storage.query(
            con, "SELECT sig_id, x0, y0, x1, y1, confidence FROM signatures").to_pylist()}
        emb = {r["sig_id"]: np.asarray(r["embedding"], np.float64) for r in storage.query(
            con, "SELECT sig_id, embedding FROM embeddings").to_pylist()}
    finally:
        con.close()
    return verdicts, boxes, emb


def _iou(p: dict, q: dict) -> float:
    ix = max(0, min(p["x1"], q["x1"]) - max(p["x0"], q["x0"]))
    iy = max(0, min(p["y1"], q["y1"]) - max(p["y0"], q["y0"]))
    inter = ix * iy
    union = (p["x1"] - p["x0"]) * (p["y1"] - p["y0"]) + (q["x1"] - q["x0"]) * (q["y1"] - q["y0"]) - inter
    return inter / union if union else 0.0


def main(a: str, b: str) -> None:
    va, ba, ea = _read(a)
    vb, bb, eb = _read(b)
    differ = sorted(k for k in va if k in vb and va[k]["decision"] != vb[k]["decision"])
    print(f"claims {len(va)} / {len(vb)}; decided differently: {len(differ)}")
    for k in differ:
        x, y = va[k], vb[k]
        print(f"  {k[0]} {k[1]}: {x['decision']} ({x['score'] and round(x['score'], 3)} / "
              f"{x['threshold'] and round(x['threshold'], 3)}) -> {y['decision']} "
              f"({y['score'] and round(y['score'], 3)} / {y['threshold'] and round(y['threshold'], 3)})")
    both = [k for k in va if k in vb and va[k]["score"] is not None and vb[k]["score"] is not None]
    ds = np.abs([va[k]["score"] - vb[k]["score"] for k in both])
    print(f"score |difference| over {len(both)} claims scored by both: median {np.median(ds):.4f}, "
          f"90th percentile {np.percentile(ds, 90):.4f}, max {ds.max():.4f}")
    common = sorted(set(ba) & set(bb))
    ious = np.asarray([_iou(ba[k], bb[k]) for k in common])
    print(f"signatures {len(ba)} / {len(bb)}, the same sig_ids {len(common)}; box IoU median {np.median(ious):.4f}, "
          f"under 0.95: {int((ious < 0.95).sum())}")
    cos = np.asarray([ea[k] @ eb[k] for k in sorted(set(ea) & set(eb))])
    print(f"embedding cosine median {np.median(cos):.5f}, under 0.99: {int((cos < 0.99).sum())} of {len(cos)}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
