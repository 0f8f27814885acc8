"""With the network unreachable, a model load and a flow run finish promptly and never try to connect out.

The child process replaces socket connects and DNS with a guard that refuses anything but loopback (the
ephemeral Prefect server) and records the attempt, so a library that would hang on a dead network
instead fails fast here, and the test sees it tried.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent("""
    import json, socket, sys
    attempts = []
    _LOCAL = ("127.", "::1", "localhost", "0.0.0.0")
    _connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def _host(address):
        return str(address[0]) if isinstance(address, tuple) else str(address)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _host(address).startswith(_LOCAL):
            attempts.append(_host(address))
            raise OSError(101, "Network is unreachable (test guard)")
        return _connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not str(host).startswith(_LOCAL):
            attempts.append(str(host))
            raise socket.gaierror(-3, "Temporary failure in name resolution (test guard)")
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo

    from sigpipe.runtime import configure
    configure()
    import timm, torch
    net = timm.create_model("resnet18", pretrained=False, in_chans=1, num_classes=0)
    assert net(torch.zeros(1, 1, 64, 64)).shape == (1, 512)
    from ultralytics import YOLO
    YOLO("yolo11n.yaml")
    from PIL import Image
    inbox = sys.argv[1] + "/inbox"
    import os; os.makedirs(inbox)
    Image.new("L", (400, 500), 250).save(inbox + "/a.pdf", "PDF", resolution=50)
    from flows.ingest import ingest
    from flows.params import IngestParams
    out = ingest(IngestParams(inbox=inbox, lake=sys.argv[1] + "/lake"))
    print("RESULT", json.dumps({"ingested": out["ingested"], "attempts": attempts}))
""")


def test_model_load_and_flow_run_offline(tmp_path):
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**_clean_env(), "SIGPIPE_HOME": str(tmp_path / "state")})
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    import json

    result = json.loads(line[len("RESULT "):])
    assert result["ingested"] == 1
    assert result["attempts"] == [], f"tried the network: {result['attempts']}"
    assert elapsed < 300  # no 50 s hub retries, no hang


def _clean_env() -> dict[str, str]:
    import os

    # the child must configure itself from scratch, as a fresh process on a user's machine would
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("PREFECT_", "YOLO_", "HF_", "TRANSFORMERS_", "TORCH_HOME", "SIGPIPE_"))}
