#!/usr/bin/env bash
# The GPU reference run as one prepared command for a lent device machine (benchmarks/README.md).
#
# It runs the jobs of benchmarks/reference_jobs.py in priority order (nb1:0 nb2:0 nb1:1 nb2:1
# nb1:2 nb2:2 nb3: Notebooks 1 and 2 with seeds 0-2, the temperature ablation at six temperatures
# on seeds 0 and 1, then the timing of Notebook 3 with full-size random-weight models), starts a
# job only if its estimate still fits in BUDGET seconds (default 540: one call of 9 minutes), and
# copies every result to $OUT as soon as it exists. log.txt names the jobs left for the next call.
#
# Prepare here, once: the compact data pack in .data/ and the wheels of benchmarks/device_wheels.txt
# in .whl/ (both git-ignored; commands in benchmarks/README.md). Commit first: the results record
# the commit and whether the tree was clean. Then, through the device tool, with
# carry [".whl", ".data/cifar10_jpeg_compact.npz"] and timeout_s 600:
#   bash benchmarks/device_reference.sh                  # every job that fits, in order
#   bash benchmarks/device_reference.sh nb1:2 nb2:2 nb3  # a second call: the jobs the first one left
# BUDGET=SECONDS sets the budget; ESTIMATES="nb1=60 nb2=45" replaces recorded times in the plan.
# What comes back under $OUT: reference.json (every notebook run of the call), notebook3-timing.json,
# executed/ (seed 0's executed notebooks), log.txt, and failed.tar.gz if a notebook failed.
# Here, without a GPU: OUT=/tmp/device-smoke SMOKE=1 bash benchmarks/device_reference.sh
# runs the same jobs on the CPU with smoke settings (SMOKE_DATA: a small decoded pack, default
# /tmp/tiny from python -m benchmarks.decode_cifar_pack --out /tmp/tiny --limit 400).
set -euo pipefail
: "${OUT:?OUT is not set: run this on the device machine (or OUT=... SMOKE=1 here)}"
started=$(date +%s)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

# NB1_ARGS, NB2_ARGS, NB3_ARGS: further options of each kind of job, e.g. a recipe trial
# NB2_ARGS="--set TEMPERATURE=0.1" (docs/recipe.md); the runs record them as overrides.
nb1_args=${NB1_ARGS:-} nb2_args=${NB2_ARGS:-} nb3_args=${NB3_ARGS:-}
if [[ -z "${SMOKE:-}" ]]; then
    python=python3
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD/shared:$PWD${PYTHONPATH:+:$PYTHONPATH}"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$OUT/log.txt"
    options=("--data-args=--jpeg .data/cifar10_jpeg_compact.npz --data /tmp/cifar10")
else
    python=${PYTHON:-.venv/bin/python}
    options=("--data-args=--smoke --data ${SMOKE_DATA:-/tmp/tiny}" --results-file "$OUT.work/reference.json")
    nb1_args="--set NUM_EPOCHS=1 --set TSNE_POINTS=200 $nb1_args"
    nb2_args="--set NUM_EPOCHS=1 --set TSNE_POINTS=200 --set TRAIN_IMAGES=400 --set ABLATION_EPOCHS=1"
    nb2_args+=" --set ABLATION_IMAGES=400 ${NB2_ARGS:-}"
    nb3_args="--model-size tiny --set TRAIN_SIZE=100 --set TEST_SIZE=60 --set LABELS_PER_CLASS=2"
    nb3_args+=" --set BATCH_SIZE=20 ${NB3_ARGS:-}"
    rm -rf "$OUT.work"
fi
options+=("--nb1-args=$nb1_args" "--nb2-args=$nb2_args" "--nb3-args=$nb3_args")

estimates=()
for estimate in ${ESTIMATES:-}; do estimates+=(--estimate "$estimate"); done
"$python" -m benchmarks.reference_jobs plan --budget "${BUDGET:-540}" --setup $(( $(date +%s) - started )) \
    "${estimates[@]}" "$@" \
    | tee -a "$OUT/log.txt"
exec "$python" -m benchmarks.reference_jobs run --out "$OUT" --budget "${BUDGET:-540}" --started "$started" \
    "${estimates[@]}" "${options[@]}" "$@"
