"""Does enrolling the document crops reviewers confirmed genuine help the next night? (experiment, not the product)

One composition of real CEDAR signatures of writers 36-45 (bench/real_documents.py: ``sigpipe.synth.real``, every
scan used once) is split by document into night 1 (the first half by name) and night 2 (the rest), so no scan of
night 2 is seen on night 1. Each writer's first 6 genuine scans are enrolled from image files.

- baseline: enrol, audit night 2.
- reviewed: enrol, audit night 1, the truth reviews night 1's review_queue (``sigpipe review``), every crop found
  genuine is enrolled as one more reference of its claimed signer (``sigpipe enroll`` with a CSV of the stored
  crops), then audit night 2.

    .venv/bin/python notes/review-enrol-experiment/run.py SEED [DOCUMENTS] [OUT]

Prints one JSON object: night 2's figures for both, as bench/real_documents.py counts them.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import real_documents as rd  # noqa: E402

import storage  # noqa: E402
from flows.cli import demo_findings  # noqa: E402

SIGPIPE = str(ROOT / ".venv" / "bin" / "sigpipe")


def run(*args: str) -> None:
    subprocess.run([SIGPIPE, *args], check=True, stdout=subprocess.DEVNULL)


def night(data: Path, out: Path, docs: set[str]) -> Path:
    """inbox, manifest and truth of ``docs`` only (truth JSONs shared)."""
    if out.exists():
        shutil.rmtree(out)
    (out / "inbox").mkdir(parents=True)
    for d in docs:
        shutil.copy(data / "inbox" / d, out / "inbox" / d)
    (out / "truth").symlink_to(data / "truth")
    for name, key in (("manifest.csv", "document"), ("truth.csv", "document")):
        with open(data / name, newline="") as f:
            r = csv.DictReader(f)
            rows = [x for x in r if x[key] in docs]
            fields = r.fieldnames
        with open(out / name, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)
    return out


def q(lake: Path, sql: str) -> list[dict]:
    con = storage.connect(lake)
    try:
        return storage.query(con, sql).to_pylist()
    finally:
        con.close()


def main() -> int:
    seed = int(sys.argv[1])
    n_docs = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else ROOT / ".state" / "review-enrol" / str(seed)
    data = out / "data"
    if not (data / "truth.csv").is_file():
        rd.compose(data, n_docs, seed, 6, 0.3)
    docs = sorted(p.name for p in (data / "inbox").glob("*.pdf"))
    n1, n2 = night(data, out / "night1", set(docs[: len(docs) // 2])), night(data, out / "night2",
                                                                             set(docs[len(docs) // 2:]))
    res = {"seed": seed, "documents": n_docs}
    for arm in ("baseline", "reviewed"):
        lake = out / f"lake-{arm}"
        if lake.exists():
            shutil.rmtree(lake)
        run("enroll", str(data / "references"), "--lake", str(lake))
        if arm == "reviewed":
            run("audit", str(n1 / "inbox"), "--manifest", str(n1 / "manifest.csv"), "--lake", str(lake))
            with open(n1 / "truth.csv", newline="") as f:
                truth = list(csv.DictReader(f))
            queue = q(lake, "SELECT verdict_id, document, page, claimed_signer FROM review_queue")
            findings = demo_findings(truth, queue)
            with open(out / "reviewed.csv", "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=["verdict_id", "outcome"])
                w.writeheader()
                w.writerows(findings)
            run("review", str(out / "reviewed.csv"), "--lake", str(lake), "--reviewer", "truth")
            crops = q(lake, "SELECT r.claimed_signer, s.crop_path FROM reviews AS r "
                            "JOIN signatures AS s USING (sig_id) WHERE r.outcome = 'genuine' AND NOT r.superseded")
            with open(lake / "enrol-reviewed.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["file", "signer_id"])
                w.writerows([(c["crop_path"], c["claimed_signer"]) for c in crops])
            run("enroll", str(lake / "enrol-reviewed.csv"), "--lake", str(lake))
            res["night1"] = {"queue": len(queue), "found": {o: sum(x["outcome"] == o for x in findings)
                                                             for o in ("genuine", "forgery", "not_signed")},
                             "enrolled_crops": len(crops),
                             "refs_per_signer": {r["signer_id"]: r["n"] for r in q(
                                 lake, 'SELECT signer_id, count(*) AS n FROM "references" GROUP BY 1 ORDER BY 1')}}
        run("audit", str(n2 / "inbox"), "--manifest", str(n2 / "manifest.csv"), "--lake", str(lake))
        s = rd.score(n2, lake)
        res[arm] = {k: s[k] for k in ("forged_flagged", "forged_documents", "genuine_called_forgery",
                                      "genuine_documents", "margin_auc")}
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
