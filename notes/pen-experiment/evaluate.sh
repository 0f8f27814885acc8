#!/bin/sh
# The rule's measurements of one verifier folder ($1), written to .state/pen/<label> ($2):
# the pen diagnostic, CEDAR 36-45 writer-independent and with 10 and 3 references, crossmedia control.
set -e
M=$1; OUT=.state/pen/$2
mkdir -p "$OUT"
.venv/bin/python notes/size-experiment/pen.py --model "$M" > "$OUT/pen.md"
.venv/bin/sigpipe eval verifier --data ../shared/data/cedar --writers 36-45 --model "$M" --json > "$OUT/cedar.json"
.venv/bin/sigpipe eval verifier --data ../shared/data/cedar --writers 36-45 --references 10 --model "$M" --json > "$OUT/cedar-k10.json"
.venv/bin/sigpipe eval verifier --data ../shared/data/cedar --writers 36-45 --references 3 --model "$M" --json > "$OUT/cedar-k3.json"
.venv/bin/sigpipe eval verifier --data ../shared/data/crossmedia/control --layout crossmedia --model "$M" --json > "$OUT/crossmedia.json"
