"""Cross-validation figures of the page orienter and the turn threshold chosen on them.

    .venv/bin/python notes/orient-experiment/cv_summary.py [--gate 0.5] W0.pt W1.pt

Each W is a fold's weights whose training wrote ``<W>.json`` and ``<W>.real_val_probs.npy`` (the held-out fold's
pages at their four turns, one answer each). Pools the held-out answers (every valid page was held out once) and
prints: one answer's accuracy and outcomes per threshold; the orienter's outcomes (one answer, and the four
combined for pages under the gate: sigpipe.orient.at_turns) per threshold; the threshold chosen (the most any
held-out upright page gives another turn, plus half a nat in log-odds: a margin) and its outcomes, last, as JSON,
with how many pages the orienter is not sure of at that threshold (``not_sure``: left as they came after four
answers, sigpipe.orient.PageTurn.sure false): upright ones, and turned ones it left.
"""

import argparse
import json
import math
import sys

import numpy as np

sys.path.insert(0, ".")
from sigpipe.orient import at_conf, at_turns, single_to_turns  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("weights", nargs="+")
ap.add_argument("--gate", type=float, default=0.5)
a = ap.parse_args()
single = np.concatenate([np.load(f"{w}.real_val_probs.npy") for w in a.weights], axis=1)  # (4, pages, 4)
pred = single.argmax(2)
print(f"pooled held-out pages: {single.shape[1]}; one answer: accuracy "
      f"{float((pred == np.arange(4)[:, None]).mean()):.4f}, per turn "
      f"{[round(float((pred[k] == k).mean()), 4) for k in range(4)]}")
for c in (0.5, 0.7, 0.9):
    print("one answer", json.dumps(at_conf(single, c)))
decided = at_turns(single_to_turns(single), a.gate)
asked = float((single[0, :, 0] < a.gate).mean())
print(f"orienter, gate {a.gate} (upright pages asked four times: {asked:.3f})")
for c in (0.9, 0.99, 0.999, 0.9999):
    print("orienter", json.dumps(at_conf(decided, c)))
worst = float(np.max(decided[0][:, 1:]))  # the most an upright page gives another turn
odds = math.log(worst / max(1 - worst, 1e-12)) + 0.5  # a margin of half a nat in log-odds
conf = round(1 / (1 + math.exp(-odds)), 6)
asked_at = single_to_turns(single)[:, 0, :, 0] < a.gate  # (4 turns, N): the first answer under the gate
best = decided[:, :, 1:].max(2)
left = ~(best >= conf)  # no turn other than none reached conf: left as it came
unsure = left & asked_at & (decided[:, :, 0] < conf)
not_sure = {"upright": f"{int(unsure[0].sum())}/{single.shape[1]}",
            "turned_left": f"{int(unsure[1:].sum())}/{int(left[1:].sum())}"}
out = {"pages": int(single.shape[1]), "gate": a.gate, "upright_asked_four_times": round(asked, 4),
       "worst_upright_other_turn": round(worst, 6), "chosen": at_conf(decided, conf), "not_sure": not_sure,
       "folds": {w: json.load(open(f"{w}.json"))["real_val"] for w in a.weights}}
print(json.dumps(out))
