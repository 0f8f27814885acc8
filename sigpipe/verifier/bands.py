"""Calibrate the audit's inconclusive band on validation writers and store it in a verifier's card.

    python -m sigpipe.verifier.bands models/verifier-signet ../shared/data/cedar 36-45

For each number of references K the card is calibrated for: ``below`` is how far under the writer's
threshold a score must fall to be called a forgery so that half the genuine signatures the threshold
rejects are referred to a person instead; ``above`` likewise halves the skilled forgeries it accepts
(:func:`sigpipe.audit.inconclusive_band`). An audit widens the band for a signer more erratic than the
validation population (:func:`sigpipe.audit.writer_model`). Weights are unchanged, so the card's sha256 stays
valid.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> dict[str, list[float]]:
    from sigpipe.runtime import configure

    configure()
    from sigpipe.audit import calibrate_bands
    from sigpipe.verifier.data import discover, load_clean
    from sigpipe.verifier.infer import Verifier
    from sigpipe.weights import write_card

    model, data, writers = argv
    lo, hi = (int(x) for x in writers.split("-"))
    v = Verifier.load(model)
    sset = discover(data, None, {str(w) for w in range(lo, hi + 1)})
    kw = v.clean_kwargs
    size, canvas = kw.pop("size"), kw.pop("canvas")
    emb = v.embed_clean(load_clean(sset.paths, size, canvas, 2, **kw))
    card = dict(v.card.data)
    bands = calibrate_bands(card, emb, sset.writers.astype(str), sset.genuine)
    for k, (below, above) in bands.items():
        card["writer_dependent"]["by_references"][k]["inconclusive_band"] = [round(below, 4), round(above, 4)]
    card["writer_dependent"]["inconclusive_band_how"] = (
        f"sigpipe.audit.inconclusive_band per K on writers {writers} of {data} (halves FRR below, skilled FAR "
        f"above); command: python -m sigpipe.verifier.bands {model} {data} {writers}. An audit widens it for a "
        "signer with a writer-dependent threshold by max(1, sigma_w / sigma_pop) (sigpipe.audit.writer_model)")
    write_card(model, card)
    return {k: [round(b[0], 4), round(b[1], 4)] for k, b in bands.items()}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
