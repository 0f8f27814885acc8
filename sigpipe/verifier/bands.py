"""Calibrate the audit's inconclusive band on validation writers and store it in a verifier's card.

Training writes the band already (:func:`sigpipe.verifier.train.export`); this recalibrates it on other
writers or for a card written before training did.

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
    from sigpipe.audit import add_bands
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
    card = add_bands(dict(v.card.data), emb, sset.writers.astype(str), sset.genuine,
                     f"writers {writers} of {data}; command: python -m sigpipe.verifier.bands {model} {data} {writers}")
    write_card(model, card)
    return {k: b["inconclusive_band"] for k, b in card["writer_dependent"]["by_references"].items()
            if "inconclusive_band" in b}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
