"""Decode the JPEG CIFAR-10 pack into the uint8 layout that ``selfsup.data.load_cifar10`` reads.

Input: ``cifar10_jpeg.npz`` (see ``/work/shared/data/README.md``): every image's JPEG bytes
concatenated (``jpeg``), ``offsets``, ``labels``, ``split`` (0 train, 1 test) and ``classes``.
Images are stored grouped by class.

Output: ``<out>/cifar10_uint8.npz`` with ``x_train, y_train, x_test, y_test`` (images uint8
``[N, 3, 32, 32]``, labels uint8 ``[N]``) and ``classes``. Each split is shuffled with a fixed
permutation (seed :data:`SHUFFLE_SEED`), so that the first images of a split are of mixed
classes as in torchvision's CIFAR-10; the pack is byte-for-byte reproducible. Point
``SELFSUP_DATA`` at ``<out>`` to make the notebooks use it.

A *compact* copy of the JPEG pack stores the header that all its JPEG files share (623 bytes
of the ~920 of each image) once: 18 MB instead of 56 MB, small enough to carry to a lent GPU
machine with the wheels the runner needs there. It is lossless: every image's JPEG bytes are
rebuilt exactly (checked when it is written), and the decoder reads both forms.

Usage (from the repository root)::

    python -m benchmarks.decode_cifar_pack --out .data/cifar10
    python -m benchmarks.decode_cifar_pack --out /tmp/tiny --limit 100   # 100 images per split
    python -m benchmarks.decode_cifar_pack --compact .data/cifar10_jpeg_compact.npz
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

DEFAULT_SOURCE = Path("/work/shared/data/cifar10_jpeg.npz")
PACK_FILE = "cifar10_uint8.npz"  # the name selfsup.data looks for in $SELFSUP_DATA
COMPACT_FILE = "cifar10_jpeg_compact.npz"
SHUFFLE_SEED = 0
#: torchvision's CIFAR10 class order, which ``selfsup.data.CLASSES`` also uses.
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SPLITS = {"train": 0, "test": 1}


class PackError(ValueError):
    """The JPEG pack is not what this decoder expects (the message says what is wrong)."""


def decode_chunk(blobs: list[bytes]) -> np.ndarray:
    """Decode JPEG images to one array.

    Args:
        blobs: the JPEG bytes of ``N`` images, each 32x32.

    Returns:
        uint8 ``[N, 3, 32, 32]`` (RGB, channels first).
    """
    from PIL import Image

    out = np.empty((len(blobs), 3, 32, 32), dtype=np.uint8)
    for i, blob in enumerate(blobs):
        with Image.open(io.BytesIO(blob)) as image:
            pixels = np.asarray(image.convert("RGB"))
        if pixels.shape != (32, 32, 3):
            raise PackError(f"image is {pixels.shape[1]}x{pixels.shape[0]}, expected 32x32")
        out[i] = pixels.transpose(2, 0, 1)
    return out


def split_order(split_codes: np.ndarray, split: str, limit: int | None = None) -> np.ndarray:
    """Indices of one split's images in the order they are written (a fixed shuffle).

    Args:
        split_codes: the pack's ``split`` array ``[N]`` (0 train, 1 test).
        split: ``"train"`` or ``"test"``.
        limit: keep only the first ``limit`` images of the shuffled order (for tests).

    Returns:
        int64 indices into the pack.
    """
    index = np.flatnonzero(split_codes == SPLITS[split])
    index = index[np.random.default_rng(SHUFFLE_SEED + SPLITS[split]).permutation(len(index))]
    return index if limit is None else index[:limit]


def read_pack(source: Path) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    """Every image's JPEG bytes, labels and split codes, from the pack or its compact copy.

    Raises:
        PackError: arrays missing or inconsistent, or a class order other than torchvision's.
    """
    with np.load(source) as pack:
        missing = {"jpeg", "offsets", "labels", "split", "classes"} - set(pack.files)
        if missing:
            raise PackError(f"{source} lacks the arrays {sorted(missing)}")
        jpeg, offsets, labels, split_codes = pack["jpeg"], pack["offsets"], pack["labels"], pack["split"]
        classes = tuple(str(c) for c in pack["classes"])
        prefix = pack["jpeg_prefix"].tobytes() if "jpeg_prefix" in pack.files else b""
    if classes != CLASSES:
        raise PackError(f"class order {classes} differs from torchvision's {CLASSES}")
    if len(offsets) != len(labels) + 1 or len(split_codes) != len(labels):
        raise PackError(f"{len(offsets)} offsets, {len(labels)} labels, {len(split_codes)} split codes")
    data = jpeg.tobytes()
    blobs = [prefix + data[offsets[i]:offsets[i + 1]] for i in range(len(labels))]
    return blobs, labels, split_codes


def compact(source: Path, dest: Path) -> Path:
    """Write a compact copy of the pack: the JPEG header shared by all images stored once.

    The copy is checked before it is kept: each image's bytes, rebuilt from it, equal the
    original's.
    """
    blobs, labels, split_codes = read_pack(source)
    prefix = os.path.commonprefix(blobs)
    bodies = [b[len(prefix):] for b in blobs]
    offsets = np.cumsum([0] + [len(b) for b in bodies], dtype=np.int64)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial.npz")
    np.savez(tmp, jpeg_prefix=np.frombuffer(prefix, dtype=np.uint8), jpeg=np.frombuffer(b"".join(bodies), np.uint8),
             offsets=offsets, labels=labels, split=split_codes, classes=np.array(CLASSES))
    if read_pack(tmp)[0] != blobs:
        tmp.unlink()
        raise PackError("the compact copy does not rebuild the original JPEG bytes")
    tmp.replace(dest)
    return dest


def decode(source: Path, workers: int | None = None, limit: int | None = None,
           chunk_size: int = 2000) -> dict[str, np.ndarray]:
    """Decode the pack into the arrays of ``cifar10_uint8.npz``.

    Args:
        source: path of ``cifar10_jpeg.npz``.
        workers: decoding processes (default: all CPUs this process may use).
        limit: decode only the first ``limit`` images of each (shuffled) split.
        chunk_size: images per task sent to a worker.

    Returns:
        ``{"x_train", "y_train", "x_test", "y_test", "classes"}``.
    """
    blobs, labels, split_codes = read_pack(source)
    workers = workers or len(os.sched_getaffinity(0))
    arrays: dict[str, np.ndarray] = {"classes": np.array(CLASSES)}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for split in SPLITS:
            index = split_order(split_codes, split, limit)
            chunks = [index[i:i + chunk_size] for i in range(0, len(index), chunk_size)]
            decoded = list(pool.map(decode_chunk, ([blobs[i] for i in c] for c in chunks)))
            arrays[f"x_{split}"] = np.concatenate(decoded) if decoded else np.empty((0, 3, 32, 32), np.uint8)
            arrays[f"y_{split}"] = labels[index].astype(np.uint8)
    return arrays


def write_pack(arrays: dict[str, np.ndarray], out_dir: Path) -> Path:
    """Write ``out_dir/cifar10_uint8.npz`` (uncompressed, so it loads fast) atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / PACK_FILE
    tmp = out_dir / (PACK_FILE + ".partial.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decode_cifar_pack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="directory for cifar10_uint8.npz ($SELFSUP_DATA)")
    target.add_argument("--compact", type=Path, metavar="FILE", help="write a compact copy of the JPEG pack instead")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help=f"the JPEG pack (default {DEFAULT_SOURCE})")
    parser.add_argument("--workers", type=int, default=None, help="decoding processes (default: all CPUs)")
    parser.add_argument("--limit", type=int, default=None, help="images per split (default: all; for tests)")
    args = parser.parse_args(argv)
    if not args.source.exists():
        print(f"no JPEG pack at {args.source}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    if args.compact:
        try:
            path = compact(args.source, args.compact)
        except PackError as error:
            print(f"cannot compact {args.source}: {error}", file=sys.stderr)
            return 2
        print(f"wrote {path}: {path.stat().st_size / 1e6:.1f} MB (from {args.source.stat().st_size / 1e6:.1f} MB), "
              f"checked lossless, in {time.perf_counter() - start:.1f} s")
        return 0
    try:
        arrays = decode(args.source, workers=args.workers, limit=args.limit)
    except PackError as error:
        print(f"cannot decode {args.source}: {error}", file=sys.stderr)
        return 2
    path = write_pack(arrays, args.out)
    print(f"wrote {path}: {len(arrays['x_train'])} train, {len(arrays['x_test'])} test images "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
