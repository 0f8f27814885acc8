"""The audit on real signatures composed into scanned documents: CEDAR writers the verifier never trained on.

The demo's documents carry synthetic signatures. This composes the same kinds of scanned documents (``sigpipe
synth``'s layouts: cheques, letters, contracts, forms, with rules, stamps, notes and the scan's noise and skew)
but every signature on them is a real CEDAR scan of writers 36-45 (the verifier trained on 1-35): a genuine
one of the claimed writer, or one of CEDAR's skilled forgeries of that writer. Each writer's first
``--references`` genuine scans are enrolled from image files; documents use the others, each scan once. Then
``sigpipe enroll`` and ``sigpipe audit`` run as a user runs them, and the verdicts are compared with the truth
per document, as the demo does (forged document flagged: a claim decided forgery, inconclusive or
no_signature; genuine document called forgery: a claim decided forgery), per claim, and per claim split by
whether a rubber stamp is printed on the claimed page. ``--direct`` also scores each placed scan alone (cleaned
from the CEDAR file, no document) against the same references: what the document costs, apart from the writer.
``--no-stamps`` composes the same documents (every layout and random draw the same) with no rubber stamp drawn,
still counted in the truth, so the claims split by a stamp compare one to one: what the stamps cost.
``--turn DEG`` scans every document again with its pages turned by DEG degrees counter-clockwise (0, 90, 180,
270, or ``mixed``: each document by 0, 90, 180 or 270 in turn): rendered by poppler at 200 dpi, turned, written
one JPEG a page as a scanner writes it. ``--turn 0`` is the same re-scan without turning, the like-for-like
baseline: what pages fed into the scanner the wrong way round cost.

    .venv/bin/python bench/real_documents.py [--documents 40] [--seed 0] [--references 6] [--verifier DIR]
                                             [--detector DIR] [--out DIR] [--direct] [--no-stamps]
                                             [--turn 0|90|180|270|mixed] [--precision auto|fp32|bf16] [--json]

Needs ``../shared/data/cedar``. Writers 36-45 calibrated the verifier's threshold (its validation writers), so
the threshold was not fixed blind to them.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sigpipe.clean import load_image  # noqa: E402
from sigpipe.synth import real  # noqa: E402

CEDAR = ROOT.parent / "shared" / "data" / "cedar"
WRITERS = range(36, 46)


def compose(out: Path, n_docs: int, seed: int, references: int, forged_fraction: float,
            stamp_ink: float = 1.0) -> dict:
    """Write inbox/, manifest.csv, truth.csv, scans.csv and references/<signer>/*.jpg (:mod:`sigpipe.synth.real`)."""
    return real.compose(CEDAR, out, WRITERS, n_docs, seed, references, forged_fraction, stamp_ink=stamp_ink)


def rescan_turned(inbox: Path, turn: str) -> dict[str, int]:
    """Every PDF in ``inbox`` scanned again with its pages turned (``--turn``; :func:`sigpipe.synth.dataset.rescan`).
    Returns file name -> degrees."""
    from sigpipe.synth.dataset import rescan

    turns = {}
    for i, pdf in enumerate(sorted(inbox.glob("*.pdf"))):
        deg = (0, 90, 180, 270)[i % 4] if turn == "mixed" else int(turn)
        rescan(pdf, pdf, deg)
        turns[pdf.name] = deg
    return turns


def turned_pages(lake: Path, turns: dict[str, int]) -> dict[str, int]:
    """How the detector's page orienter took the re-scanned pages: stood upright (turned back by the scan's turn),
    left as scanned when they were turned, turned when they were not, turned wrongly; and of those left as they came,
    how many it was not sure of (``*_not_sure``: the audit decides none of their signatures)."""
    import storage

    con = storage.connect(lake)
    rows = storage.query(con, "SELECT d.file_name, x.page_turn, x.page_turn_sure FROM detections x "
                              "JOIN documents d USING (doc_id)").to_pylist()
    con.close()
    out = Counter()
    for r in rows:
        need = (-turns[r["file_name"]]) % 360
        got = r["page_turn"]
        out["pages"] += 1
        out["upright" if need == 0 else "scanned_turned"] += 1
        if need == 0:
            out["upright_turned" if got else "upright_left"] += 1
        else:
            out["stood_upright" if got == need else "left_turned" if got == 0 else "turned_wrongly"] += 1
        if r["page_turn_sure"] is False:
            out["upright_not_sure" if need == 0 else "left_turned_not_sure"] += 1
    return dict(out)


def pages_not_sure(lake: Path) -> int:
    """Pages the detector's page orienter left as they came without being sure they are upright."""
    import storage

    con = storage.connect(lake)
    n = storage.query(con, "SELECT count(*) AS n FROM detections WHERE page_turn_sure = false").to_pylist()[0]["n"]
    con.close()
    return int(n)


def _sigpipe(*args: str) -> None:
    subprocess.run([str(ROOT / ".venv" / "bin" / "sigpipe"), *args], check=True, stdout=subprocess.DEVNULL)


def score(data: Path, lake: Path) -> dict:
    """Verdicts against the truth, per document (as the demo) and per claim."""
    sys.path.insert(0, str(ROOT))
    import storage

    truth_doc: dict[str, bool] = {}
    truth_claim: dict[tuple[str, str], bool] = {}
    with open(data / "truth.csv", newline="") as f:
        for r in csv.DictReader(f):
            g = r["genuine"].lower() == "true"
            truth_doc[r["document"]] = truth_doc.get(r["document"], False) or not g
            truth_claim[(r["document"], r["claimed_signer_id"])] = g
    con = storage.connect(lake)
    rows = storage.query(con, "SELECT document, claimed_signer, decision, score - threshold AS margin "
                              "FROM verdicts").to_pylist()
    con.close()
    decisions: dict[str, list[str]] = {}
    claims: Counter[tuple[str, str]] = Counter()
    for r in rows:
        decisions.setdefault(r["document"], []).append(r["decision"])
        g = truth_claim.get((r["document"], r["claimed_signer"]))
        claims[("genuine" if g else "forged", r["decision"])] += 1
    forged = [d for d, f in truth_doc.items() if f]
    genuine = [d for d, f in truth_doc.items() if not f]
    flagged = [d for d in forged if any(x in ("forgery", "inconclusive", "no_signature") for x in decisions.get(d, []))]
    wrong = [d for d in genuine if "forgery" in decisions.get(d, [])]
    # how well scores rank genuine claims over forged ones, thresholds aside: P(margin of a genuine claim > that of
    # a forged one) over the claims a signature was found for
    found = [(r["margin"], truth_claim.get((r["document"], r["claimed_signer"]))) for r in rows
             if r["margin"] is not None]
    g = np.array([m for m, t in found if t])
    f = np.array([m for m, t in found if t is False])
    auc = (float((g[:, None] > f[None, :]).mean() + 0.5 * (g[:, None] == f[None, :]).mean())
           if len(g) and len(f) else None)
    # the same claims split by whether a rubber stamp is printed on the claimed page (the truth JSON counts them)
    stamped: Counter[tuple[str, str, str]] = Counter()
    pages = {d: json.loads((data / "truth" / (Path(d).stem + ".json")).read_text())["pages"]
             for d in {r["document"] for r in rows}}
    for r in rows:
        page = next((p for p in pages[r["document"]] for sg in p["signatures"]
                     if sg["claimed_signer_id"] == r["claimed_signer"]), None)
        g = truth_claim.get((r["document"], r["claimed_signer"]))
        stamped[("stamp" if page and page["stamps"] else "no-stamp", "genuine" if g else "forged", r["decision"])] += 1
    return {"forged_documents": len(forged), "forged_flagged": len(flagged), "genuine_documents": len(genuine),
            "genuine_called_forgery": len(wrong), "genuine_called_forgery_docs": wrong,
            "claims": {f"{k}:{d}": v for (k, d), v in sorted(claims.items())},
            "claims_by_stamp": {f"{s}:{k}:{d}": v for (s, k, d), v in sorted(stamped.items())},
            "margin_auc": None if auc is None else round(auc, 4)}


def direct(data: Path, lake: Path, verifier: Path | None, precision: str = "auto") -> dict:
    """Each placed scan cleaned and scored alone against the claimed writer's enrolled references, as the audit
    scores a crop (its writer model, threshold and band): what the verifier decides without the document. Counted
    against the document's decision: ``truth:alone->in the document``."""
    import storage
    from sigpipe import audit as audit_lib
    from tasks import models
    from tasks.verify import _embed, _writers

    folder = str(verifier or ROOT / "models" / "verifier-signet")
    with open(data / "scans.csv", newline="") as f:
        scans = list(csv.DictReader(f))
    v, _ = models.verifier(folder, precision)
    con = storage.connect(lake)
    writers, _ = _writers(con, sorted({r["claimed_signer_id"] for r in scans}), v.card.data)
    decided = {(r["document"], r["claimed_signer"]): r["decision"] for r in storage.query(
        con, "SELECT document, claimed_signer, decision FROM verdicts").to_pylist()}
    con.close()
    emb, _, _, _ = _embed(folder, [load_image(CEDAR / r["scan"]) for r in scans], precision=precision)
    out: Counter[str] = Counter()
    for r, e in zip(scans, emb, strict=True):
        w, band = writers[r["claimed_signer_id"]]
        alone = audit_lib.decide(float(w.score(e[None])[0]), float(w.threshold), band)
        truth = "genuine" if r["genuine"].lower() == "true" else "forged"
        out[f"{truth}:{alone}->{decided.get((r['document'], r['claimed_signer_id']), 'none')}"] += 1
    return dict(sorted(out.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--documents", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--references", type=int, default=6, help="genuine scans per writer enrolled (1..K)")
    ap.add_argument("--forged-fraction", type=float, default=0.3)
    ap.add_argument("--verifier", type=Path, help="verifier model folder (default: the product's)")
    ap.add_argument("--detector", type=Path, help="detector model folder (default: the product's)")
    ap.add_argument("--out", type=Path, help="keep the data and lake here (default: a temporary folder)")
    ap.add_argument("--direct", action="store_true",
                    help="also score each placed scan alone (no document) against the same references")
    ap.add_argument("--no-stamps", action="store_true",
                    help="the same documents without their rubber stamps drawn (what the stamps cost)")
    ap.add_argument("--turn", choices=("0", "90", "180", "270", "mixed"),
                    help="scan the documents again with their pages turned by this many degrees (0: the re-scan "
                         "alone, the baseline; mixed: 0/90/180/270 in turn)")
    ap.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                    help="the models' arithmetic in enroll and audit (sigpipe's --precision)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not (CEDAR / "full_org").is_dir():
        print(f"CEDAR not found at {CEDAR}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        out = a.out or Path(tmp)
        data, lake = out / "data", out / "lake"
        t0 = time.perf_counter()
        summary = compose(data, a.documents, a.seed, a.references, a.forged_fraction, 0.0 if a.no_stamps else 1.0)
        turns = rescan_turned(data / "inbox", a.turn) if a.turn is not None else None
        t1 = time.perf_counter()
        model = (["--verifier", str(a.verifier)] if a.verifier else []) + \
            (["--detector", str(a.detector)] if a.detector else []) + ["--precision", a.precision]
        _sigpipe("enroll", str(data / "references"), "--lake", str(lake), *model)
        _sigpipe("audit", str(data / "inbox"), "--manifest", str(data / "manifest.csv"), "--lake", str(lake), *model)
        t2 = time.perf_counter()
        res = {"seed": a.seed, "documents": a.documents, "references": a.references, "stamps": not a.no_stamps,
               "turn": a.turn, "precision": a.precision,
               "verifier": str(a.verifier or "default"), "detector": str(a.detector or "default"),
               "signatures": summary["signatures"], "scans_used": summary["scans_used"], **score(data, lake),
               "pages_not_sure": pages_not_sure(lake),
               "compose_s": round(t1 - t0, 1), "enroll_audit_s": round(t2 - t1, 1)}
        if turns is not None:
            res["pages_turned"] = turned_pages(lake, turns)
        if a.direct:
            res["direct"] = direct(data, lake, a.verifier, a.precision)
    if a.json:
        print(json.dumps(res, indent=1))
        return 0
    print("| seed | documents | signatures | forged documents flagged | genuine documents called forgery |")
    print("|---|---|---|---|---|")
    print(f"| {res['seed']} | {res['documents']} | {res['signatures']} "
          f"| {res['forged_flagged']}/{res['forged_documents']} "
          f"| {res['genuine_called_forgery']}/{res['genuine_documents']} |")
    print("claims (truth:decision):", ", ".join(f"{k} {v}" for k, v in res["claims"].items()))
    if "pages_turned" in res:
        print("pages:", ", ".join(f"{k} {v}" for k, v in res["pages_turned"].items()))
    print("pages the orienter was not sure of (their signatures inconclusive):", res["pages_not_sure"])
    print("margin AUC (genuine over forged claims, score - threshold):", res["margin_auc"])
    print("claims by a stamp on the page (stamp:truth:decision):",
          ", ".join(f"{k} {v}" for k, v in res["claims_by_stamp"].items()))
    if "direct" in res:
        print("each scan alone -> in its document (truth:alone->document):",
              ", ".join(f"{k} {v}" for k, v in res["direct"].items()))
    if res["genuine_called_forgery_docs"]:
        print("genuine called forgery:", ", ".join(res["genuine_called_forgery_docs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
