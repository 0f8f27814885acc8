"""Every deployment in prefect.yaml names a flow that exists and parameters that flow accepts."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENTS = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


_HEADERS = {"manifest.csv": "document,signer_id\n", "reviewed.csv": "verdict_id,outcome\n",
            "closed-accounts.csv": "signer_id,ref_id\n"}


def _local(value, tmp: Path):
    """The deployment's production paths (/srv/sigpipe/...) moved under ``tmp``, made to exist as the flows need."""
    if isinstance(value, dict):
        return {k: _local(v, tmp) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("/srv/sigpipe/"):
        path = tmp / value.removeprefix("/srv/sigpipe/")
        if path.suffix in {".csv", ".yaml"}:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_HEADERS.get(path.name, ""))  # a manifest without its columns is refused with the params
        else:
            path.mkdir(parents=True, exist_ok=True)
        return str(path)
    return value


@pytest.mark.parametrize("dep", DEPLOYMENTS, ids=lambda d: d["name"])
def test_deployment_parameters_validate(dep, tmp_path, prefect_harness):
    module, name = dep["entrypoint"].split(":")
    flow = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)
    params = flow.validate_parameters(_local(dep.get("parameters") or {}, tmp_path))
    if dep["name"] == "train-verifier":
        # a training run that exports nothing would leave the deployment's work unusable
        assert params["params"].out == "models/verifier-signet"
    if dep["name"] == "distill-verifier":
        # it remakes the product's verifier from the teacher the product keeps
        assert params["params"].out == "models/verifier-signet"
        assert (ROOT / params["params"].teacher / "card.json").is_file()
