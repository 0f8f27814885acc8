#!/bin/bash
# Device: the CUDA tests, then the GPU rows of the embed, detect and catalogue benchmarks.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .dev3/whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc
python3 -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__)"
timeout 70 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_cuda.py 2>&1 | tail -15
timeout 45 python3 bench/embed.py --device cuda --n 256 --batches 64,256 --threads 8 --repeat 3 --json > "$OUT/embed.json" 2> "$OUT/embed.err"; echo "embed rc $?"; tail -c 900 "$OUT/embed.json"; tail -3 "$OUT/embed.err"
timeout 45 python3 bench/detect.py --device cuda:0 --batch 1 --batch 8 --json > "$OUT/detect.json" 2> "$OUT/detect.err"; echo "detect rc $?"; python3 -c "
import json; d = json.load(open('$OUT/detect.json'))
for r in d['rows']: print(r['page'], r['device'], r['batch'], r['imgsz'], r['ms_per_page_median'], r['boxes_per_page'])" ; tail -3 "$OUT/detect.err"
timeout 40 python3 bench/catalog.py --json > "$OUT/catalog.json" 2> "$OUT/catalog.err"; echo "catalog rc $?"; tail -c 700 "$OUT/catalog.json"; tail -3 "$OUT/catalog.err"
