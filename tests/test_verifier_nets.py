"""Embedders: built by name, the forward_features / forward_head / forward contract, unit-length output."""

from __future__ import annotations

import pytest
import torch

from sigpipe.verifier.nets import ARCHS, build_model


@pytest.mark.parametrize(("arch", "args"), [
    ("signet", {"width": 0.25}),
    ("signet", {"width": 0.25, "pool": "gem", "hidden": 0}),
    ("timm", {"backbone": "mobilenetv3_small_050", "dim": 64}),
])
def test_embedder_contract(arch, args):
    m = build_model(arch, args).eval()
    x = torch.rand(3, 1, 150, 220)
    with torch.no_grad():
        f = m.forward_features(x)
        e = m.forward_head(f)
        e2 = m(x)
    assert f.ndim == 4 and f.shape[0] == 3
    assert e.shape == (3, args.get("dim", 256))
    torch.testing.assert_close(e, e2)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(3))


def test_arch_registry():
    assert set(ARCHS) == {"signet", "timm", "ensemble"}
    with pytest.raises(ValueError, match="unknown verifier arch"):
        build_model("vit", {})
