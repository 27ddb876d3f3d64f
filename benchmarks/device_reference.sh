#!/usr/bin/env bash
# The GPU reference run as one prepared command for a lent device machine (benchmarks/README.md).
#
# Prepare here, once:  the compact data pack in .data/ and the wheels of benchmarks/device_wheels.txt
#                      in .whl/ (both git-ignored; commands in benchmarks/README.md).
# Then, through the device tool, carry [".whl", ".data/cifar10_jpeg_compact.npz"] and run:
#   bash benchmarks/device_reference.sh            # seed 0, Notebooks 1 and 2, executed copies
#   bash benchmarks/device_reference.sh 1          # seed 1 alone, into its own file (no executed copies)
#   APPEND=benchmarks/results/<date>-<gpu>.json bash benchmarks/device_reference.sh 1   # or into that file
# Each notebook runs in its own invocation, and what it recorded is copied to $OUT at once, so a
# command stopped at its time limit still returns the notebooks it finished.
# What comes back under $OUT: the results JSON, executed/ (the executed notebooks) and log.txt.
# Copy them to benchmarks/results/ and solutions/executed/, then run python -m autograder results.
set -euo pipefail
: "${OUT:?OUT is not set: run this on the device machine}"
start_marker=$(mktemp)
seeds=("${@:-0}")

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD/shared:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

results="${APPEND:-}"
first_seed_only=""
if [[ "${seeds[0]}" != 0 || -n "${APPEND:-}" ]]; then
    first_seed_only="--no-executed"   # executed notebooks are kept for seed 0 only
fi
status=0
for notebook in 01_pretext_tasks 02_simclr; do
    args=(--jpeg .data/cifar10_jpeg_compact.npz --data /tmp/cifar10 --seeds "${seeds[@]}"
          --notebooks "$notebook" ${first_seed_only})
    if [[ -n "$results" ]]; then
        args+=(--append "$results")
    elif [[ "${seeds[0]}" != 0 ]]; then
        results="benchmarks/results/seed-$(IFS=-; echo "${seeds[*]}").json"
        args+=(--out "$results")
    fi
    python3 -m benchmarks.run_reference "${args[@]}" 2>&1 | tee -a "$OUT/log.txt" || status=$?
    if [[ -z "$results" ]]; then   # the first invocation named the file after the date and GPU
        results=$(find benchmarks/results -name '*.json' -newer "$start_marker" | head -n 1)
    fi
    [[ -n "$results" && -f "$results" ]] && cp "$results" "$OUT/"
    if [[ -z "$first_seed_only" && -d solutions/executed ]]; then
        mkdir -p "$OUT/executed" && cp solutions/executed/*.ipynb "$OUT/executed/"
    fi
done
mkdir -p "$OUT/failed" && cp build/benchmarks/failed/*.ipynb "$OUT/failed/" 2>/dev/null || rmdir "$OUT/failed"
exit "$status"
