"""Two folds of a YOLO split's images by source page, for cross-validating the page orienter on real pages.

    .venv/bin/python notes/orient-experiment/folds.py .state/data/signature-detection/valid/images .state/orient

Roboflow names an exported image ``<source>_jpg.rf.<hash>.jpg``; images of one source page (13 sources have two
in the valid split) go to the same fold. Sources are sorted and dealt alternately. Writes fold0.txt and fold1.txt
(absolute paths, one a line) under the output folder and prints the counts.
"""

import sys
from pathlib import Path

images, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
by_source: dict[str, list[Path]] = {}
for f in sorted(images.glob("*.jpg")):
    by_source.setdefault(f.name.split(".rf.")[0], []).append(f)
folds: list[list[Path]] = [[], []]
for i, src in enumerate(sorted(by_source)):
    folds[i % 2] += by_source[src]
out.mkdir(parents=True, exist_ok=True)
for k, files in enumerate(folds):
    (out / f"fold{k}.txt").write_text("".join(f"{f}\n" for f in files))
    print(f"fold{k}: {len(files)} images")
