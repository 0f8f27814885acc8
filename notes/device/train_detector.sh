#!/bin/bash
# Device: install ultralytics from the carried wheels, gather the data, train with a time budget.
set -u
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .dev2/whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD
mkdir -p /data && cp -r .dev2/real .dev2/synth /data/ || exit 4
for d in /data/real/train/images /data/real/valid/images /data/synth/images/train /data/synth/images/val; do echo "$d $(ls $d | wc -l)"; done
nvidia-smi -L; nproc; free -g | head -2
timeout -k 10 "${DET_TIMEOUT:-540}" python3 .dev2/train.py 2>&1 | tee "$OUT/log.txt" | grep -v "^ *[0-9]*/[0-9]* .*it/s\]$" | tail -c 20000
ls -la "$OUT"
echo "== results.csv"; cut -d, -f1,2,6-9 "$OUT/results.csv" 2>/dev/null
