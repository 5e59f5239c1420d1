"""`benco corpus export`: a corpus, as published, → a pairs manifest (resumable, streaming).

Images held as bytes (parquet cells, tar members) are written unchanged (no re-encoding: the
edited image's compression traces are what detectors learn from) under OUT/images/; images that
are files already (folder layouts) are referenced where they are. Masks are always rewritten as
0/255 PNGs (corpora ship 0/1 index masks too). Every pair is decoded and checked before anything
of it is written; its manifest record is appended to OUT/.export.jsonl after its files, so a
rerun skips finished pairs. OUT/pairs.jsonl is written (atomically) only when the run finishes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ...errors import BadInputError
from ..atomic import atomic_write_bytes
from ..images import save_mask
from ..jsonl import read_jsonl, write_jsonl
from ..manifest import Pair
from ..pairs import file_stem
from . import DataFormat, open_corpus
from .sample import Blob, CorpusSample

PROGRESS_LOG = ".export.jsonl"


def stored_path(blob: Blob, folder: Path, stem: str) -> str:
    if blob.data is None and blob.loader is None:
        return blob.path
    path = folder / f"{stem}{blob.suffix()}"
    atomic_write_bytes(path, blob.read())
    return str(path)


def materialize(sample: CorpusSample, out: Path) -> Pair:
    """Check the sample, then write its files; raises BadInputError before writing anything."""
    _source_size, _edited_size, mask = sample.check()
    stem = file_stem(sample.id)
    mask_path = None
    if mask is not None:
        mask_path = out / "masks" / f"{stem}.png"
        save_mask(mask_path, mask)
    return Pair(
        id=sample.id, source=stored_path(sample.source, out / "images", f"{stem}.source"),
        edited=stored_path(sample.edited, out / "images", f"{stem}.edited"), instruction=sample.instruction,
        mask=str(mask_path) if mask_path else None, edit_type=sample.edit_type, corpus=sample.corpus,
    )


def export_corpus(name: str, root: str | Path, out: str | Path, columns: dict | None = None,
                  layout: dict | None = None, data_format: DataFormat = "auto", limit: int | None = None,
                  skip_bad: bool = False, progress: bool = True) -> dict:
    """Write OUT/pairs.jsonl for corpus `name` under `root`; returns counts."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log_path, errors_path = out / PROGRESS_LOG, out / "export_errors.jsonl"
    done = {record["id"] for record in read_jsonl(log_path)}
    counts = {"exported": 0, "already_done": len(done), "bad": 0, "duplicate_or_done": 0}
    started = time.perf_counter()
    with tqdm(desc=f"export {name}", unit="pair", total=limit, disable=not progress) as bar, \
            log_path.open("a", encoding="utf-8") as log, errors_path.open("a", encoding="utf-8") as errors:
        for sample in open_corpus(name, root, columns=columns, layout=layout, data_format=data_format):
            if limit is not None and counts["exported"] + counts["bad"] >= limit:
                break
            if sample.id in done:
                counts["duplicate_or_done"] += 1
                continue
            try:
                pair = materialize(sample, out)
            except BadInputError as err:
                if not skip_bad:
                    raise BadInputError(f"{name}: {err} (--skip-bad skips bad pairs; pairs.jsonl is written "
                                        "only when a run finishes)") from None
                errors.write(json.dumps({"id": sample.id, "where": sample.where, "error": str(err)}) + "\n")
                errors.flush()
                counts["bad"] += 1
                bar.update()
                continue
            log.write(json.dumps(pair.to_record(out), ensure_ascii=False) + "\n")
            log.flush()
            done.add(sample.id)
            counts["exported"] += 1
            bar.update()
    write_jsonl(out / "pairs.jsonl", list(read_jsonl(log_path)))
    counts["pairs"] = len(done)
    counts["pairs_per_second"] = round(counts["exported"] / max(time.perf_counter() - started, 1e-9), 2)
    return counts
