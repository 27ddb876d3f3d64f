"""Merge the output folders of ``--shard`` runs into one, as if the batch had run in one job.

The records of every shard are checked (signature), pooled by input file, re-signed for the
merged folder, and the outputs are written by the same code as a single run
(:func:`autograder.grading.report.write_outputs`), so a sharded batch gives the same
``grades.csv``. Feedback, autograded and submitted notebooks are copied over (and the feedback is rendered again
when written scores were already folded into ``out``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .report import load_records, save_record, signing_key, write_outputs


def merge(shards: list[Path], out: Path, log=None) -> list[dict]:
    """Merge shard output folders into ``out``; return the pooled records.

    Raises:
        FileNotFoundError: if a shard folder has no records.
    """
    log = log or (lambda line: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records: dict[str, dict] = {}
    metas = []
    for shard in map(Path, shards):
        if not (shard / "records").is_dir():
            raise FileNotFoundError(f"{shard} has no records/ folder: is it the --out folder of a grade run?")
        found, rejected = load_records(shard, signing_key(shard))
        for name in rejected:
            log(f"warning: {shard}/records/{name} is not signed by this shard's key; ignored")
        for key, record in found.items():
            if key in records and records[key].get("sha256") != record.get("sha256"):
                log(f"warning: {key} appears in two shards with different content; keeping the first")
                continue
            records.setdefault(key, record)
        results = shard / "results.json"
        if results.exists():
            metas.append(json.loads(results.read_text(encoding="utf-8")).get("meta", {}))
        for folder in ("feedback", "autograded", "submitted"):
            if (shard / folder).is_dir() and shard.resolve() != out.resolve():
                shutil.copytree(shard / folder, out / folder, dirs_exist_ok=True)
    key = signing_key(out)
    for record in records.values():
        save_record(out, {k: v for k, v in record.items() if k != "signature"}, key)
    seeds = sorted({m.get("probe_seed") for m in metas})
    meta = {"merged_shards": sorted(m.get("shard", "?") for m in metas),
            "probe_seed": seeds[0] if len(seeds) == 1 else seeds,
            "fingerprint": sorted({m.get("fingerprint") for m in metas}),
            "isolation": sorted({str(m.get("isolation")) for m in metas}),
            "resources": sorted({str(m.get("resources")) for m in metas}),
            "limits": metas[0].get("limits") if metas else {}}
    if len(seeds) > 1:
        log("warning: the shards used different probe seeds; pass the same --probe-seed to every shard")
    write_outputs(out, list(records.values()), meta)
    from .written import graded_submissions, load, refresh_feedback

    if load(out) is not None:  # the shards' feedback does not have the written points
        refresh_feedback(out, graded_submissions(out), load(out))
    return list(records.values())
