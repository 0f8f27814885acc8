"""Put this folder on PYTHONPATH with DESTAMP=<weights> (DESTAMP_THR, DESTAMP_MIN_SHARE: guard.py's G,
DESTAMP_AUDIT_ONLY=1 for `sigpipe audit`
only): the audit's query crops go through the stamp remover before the verifier's cleaning."""

import os
import sys
from pathlib import Path

if os.environ.get("DESTAMP") and (not os.environ.get("DESTAMP_AUDIT_ONLY") or "audit" in sys.argv[1:2]):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torch
    from net import UNet, destamp

    import tasks.verify as tv

    _net = UNet()
    _net.load_state_dict(torch.load(os.environ["DESTAMP"], weights_only=True))
    _net.eval()
    _orig = tv._clean

    def _clean(v, images):
        thr, share = float(os.environ.get("DESTAMP_THR", "0.5")), float(os.environ.get("DESTAMP_MIN_SHARE", "0"))
        return _orig(v, [destamp(_net, i, thr, share) for i in images])

    tv._clean = _clean
