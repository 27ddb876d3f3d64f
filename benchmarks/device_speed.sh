#!/usr/bin/env bash
# Where the time goes on a GPU (issue 16), as one prepared command for a lent device machine:
# per method ms per step (CUDA events), GPU-busy ms per step (torch.profiler) and syncs per step
# (torch.cuda.set_sync_debug_mode); the label-efficiency fits and the t-SNE; then Notebooks 1 and 2
# end to end (benchmarks/device_speed.py, benchmarks/run_reference.py). About 5 minutes of GPU time
# when each notebook runs in about a minute; each part's results go to $OUT as soon as it ends.
#
# Prepare here, once (both git-ignored; commands in benchmarks/README.md, as for device_reference.sh):
#   .data/cifar10_jpeg_compact.npz and the wheels of benchmarks/device_wheels.txt in .whl/
# Then, through the device tool, carry [".whl", ".data/cifar10_jpeg_compact.npz"], timeout_s 600:
#   bash benchmarks/device_speed.sh
# Without a GPU, the same script end to end on this machine's CPU (synthetic images, 400 real ones
# for the notebooks, 1 epoch): a check of the script, not a measurement:
#   SMOKE=1 OUT=/tmp/device-speed bash benchmarks/device_speed.sh
# What comes back under $OUT: device-speed.json, notebooks-<notebook>.json (run_reference's record:
# section times and probe accuracies) and log.txt.
set -euo pipefail
: "${OUT:?OUT is not set: run this on the device machine (or SMOKE=1 OUT=/tmp/x here)}"
mkdir -p "$OUT"

if [[ -n "${SMOKE:-}" ]]; then
    python=".venv/bin/python"
    data="/tmp/device-speed-smoke-data"
    speed_args=(--smoke)
    notebook_args=(--smoke --data "$data" --set NUM_EPOCHS=1 --set TSNE_POINTS=200 --set ABLATION_EPOCHS=1
                   --set ABLATION_IMAGES=2000 --set TRAIN_IMAGES=2000 --timeout 1800)
    [[ -f "$data/cifar10_uint8.npz" ]] || "$python" -m benchmarks.decode_cifar_pack --out "$data" --limit 400
else
    python="python3"
    data="/tmp/cifar10"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD/shared:$PWD${PYTHONPATH:+:$PYTHONPATH}"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$OUT/log.txt"
    [[ -f "$data/cifar10_uint8.npz" ]] || python3 -m benchmarks.decode_cifar_pack \
        --source .data/cifar10_jpeg_compact.npz --out "$data"
    speed_args=(--data "$data")
    notebook_args=(--jpeg .data/cifar10_jpeg_compact.npz --data "$data")
fi
export PYTHONUNBUFFERED=1

status=0
"$python" -m benchmarks.device_speed "${speed_args[@]}" --out "$OUT/device-speed.json" 2>&1 \
    | tee -a "$OUT/log.txt" || status=$?
for notebook in 01_pretext_tasks 02_simclr; do
    "$python" -m benchmarks.run_reference "${notebook_args[@]}" --seeds 0 --notebooks "$notebook" --no-executed \
        --out "$OUT/notebooks-$notebook.json" 2>&1 | tee -a "$OUT/log.txt" || status=$?
done
exit "$status"
