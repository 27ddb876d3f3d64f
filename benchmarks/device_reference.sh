#!/usr/bin/env bash
# The GPU reference run as one prepared command for a lent device machine (benchmarks/README.md).
#
# Prepare here, once:  the compact data pack in .data/ and the wheels of benchmarks/device_wheels.txt
#                      in .whl/ (both git-ignored; commands in benchmarks/README.md).
# Then, through the device tool, carry [".whl", ".data/cifar10_jpeg_compact.npz"] and run:
#   bash benchmarks/device_reference.sh            # seed 0, Notebooks 1 and 2, executed copies
#   APPEND=benchmarks/results/<date>-<gpu>.json bash benchmarks/device_reference.sh 1   # a second seed
# What comes back under $OUT: the results JSON, executed/ (the executed notebooks) and log.txt.
# Copy them to benchmarks/results/ and solutions/executed/, then run python -m autograder results.
set -euo pipefail
: "${OUT:?OUT is not set: run this on the device machine}"
start_marker=$(mktemp)

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD/shared:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

args=(--jpeg .data/cifar10_jpeg_compact.npz --data /tmp/cifar10 --seeds "${@:-0}")
if [[ -n "${APPEND:-}" ]]; then
    args+=(--append "$APPEND" --no-executed)
fi
status=0
python3 -m benchmarks.run_reference "${args[@]}" 2>&1 | tee "$OUT/log.txt" || status=$?

find benchmarks/results -name '*.json' -newer "$start_marker" -exec cp {} "$OUT/" \;
if [[ -z "${APPEND:-}" && -d solutions/executed ]]; then
    cp -r solutions/executed "$OUT/"
fi
mkdir -p "$OUT/failed" && cp build/benchmarks/failed/*.ipynb "$OUT/failed/" 2>/dev/null || rmdir "$OUT/failed"
exit "$status"
