"""A million-line manifest: `benco annotate`'s time and memory to its first pair, its `--resume`,
and the final merge of a million records (Linux: memory read from /proc).

Builds, under --work, an N-line manifest whose lines point at the pairs of --pairs (absolute paths,
unique ids) and the same with 40 lines, runs `benco annotate` on each until its first record is on
disk, and reports the seconds to it, the peak RSS of the job's process and the peak PSS of the
whole job (with its manifest-check process) up to then; then the same with `--resume`. The merge is measured
on N records copied from the first run's.

    python -m benchmarks.manifest_scale --pairs /work/data/val3s/pairs.jsonl --work /tmp/manifest_scale --record
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

SMALL_LINES = 40  # the baseline manifest: checked in full before work starts


def write_manifest(pairs: str, path: Path, lines: int) -> Path:
    """`lines` lines cycling through the pairs of `pairs`, each with its own id and absolute paths."""
    from imdl_sigma.data.manifest import read_manifest

    if path.is_file() and sum(1 for _ in path.open("rb")) == lines:
        return path
    records = [pair.to_record() for pair in read_manifest(pairs, check_files=False)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for number in range(lines):
            record = records[number % len(records)]
            handle.write(json.dumps({**record, "id": f"m{number:07d}"}) + "\n")
    return path


def status_kb(path: str, field: str) -> int:
    try:
        lines = Path(path).read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(next((line.split()[1] for line in lines if line.startswith(field + ":")), 0))


def descendants(pid: int) -> list[int]:
    try:
        children = [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                    for child in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []
    return children + [grandchild for child in children for grandchild in descendants(child)]


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS of `pid`, PSS of `pid` and all its descendants) in MB, now. PSS splits pages shared
    between processes (a child just forked, not yet exec'd, shares all of its parent's), so the
    sum is the memory the job really holds."""
    tree = sum(status_kb(f"/proc/{one}/smaps_rollup", "Pss") for one in [pid, *descendants(pid)])
    return status_kb(f"/proc/{pid}/status", "VmRSS") / 1024, tree / 1024


def first_pair(manifest: Path, out: Path, extra: list[str]) -> dict:
    """Run `benco annotate` until its first record is written (then Ctrl-C it): seconds and peak RSS."""
    records = out / "records" / "rank0.jsonl"
    before = records.stat().st_size if records.exists() else 0
    command = [sys.executable, "-m", "imdl_sigma", "annotate", "--pairs", str(manifest), "--out", str(out),
               "--batch-size", "4", *extra]
    started = time.perf_counter()
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    own_peak = tree_peak = 0.0
    while not (records.exists() and records.stat().st_size > before):
        if job.poll() is not None:
            raise SystemExit(f"benco annotate exited {job.returncode}: {job.stderr.read().decode()[-500:]}")
        own, tree = memory_mb(job.pid)
        own_peak, tree_peak = max(own_peak, own), max(tree_peak, tree)
        time.sleep(0.1)  # reading smaps costs the job CPU: sample sparingly
    seconds = time.perf_counter() - started
    job.send_signal(signal.SIGINT)
    job.wait()
    return {"seconds_to_first_pair": round(seconds, 2), "job_rss_mb": round(own_peak),
            "job_and_check_pss_mb": round(tree_peak)}


def many_records(template_out: Path, path: Path, lines: int) -> Path:
    """A records log of `lines` copies of one real record of `template_out`, keyed out of order in a
    corpus of their own."""
    template = json.loads((template_out / "records" / "rank0.jsonl").open().readline())
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for number in range(lines):
            handle.write(json.dumps({**template, "key": f"other/m{(number * 7919) % lines:07d}"}) + "\n")
    return path


def merge_cost(records: Path, work: Path) -> dict:
    """Seconds and peak RSS of the final merge of the records in `records`."""
    out = work / "merge"
    (out / "records").mkdir(parents=True, exist_ok=True)
    os.replace(records, out / "records" / "rank0.jsonl")
    code = ("import json, resource, time; from imdl_sigma.annotation.outputs import merge; t = time.perf_counter(); "
            f"merge({str(out)!r}, False); print(json.dumps([time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))")
    seconds, peak = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                              text=True).stdout)
    return {"merge_s": round(seconds, 1), "merge_peak_rss_mb": round(peak)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", required=True, help="a pairs manifest whose pairs the long manifest repeats")
    parser.add_argument("--work", required=True, help="scratch folder (manifests, outputs)")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--record", action="store_true", help="also write the RESULTS.md section")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    work = Path(args.work)
    for old in ("out_small", "out_long", "merge"):
        shutil.rmtree(work / old, ignore_errors=True)
    rows = {}
    for name, lines in (("small", SMALL_LINES), ("long", args.lines)):
        manifest = write_manifest(args.pairs, work / f"{name}.jsonl", lines)
        rows[name] = {"lines": lines, "fresh": first_pair(manifest, work / f"out_{name}", [])}
    # the long run's --resume with as many finished records as it has lines (other keys: work is left)
    records = many_records(work / "out_long", work / "records.jsonl", args.lines)
    with (work / "out_long" / "records" / "rank0.jsonl").open("ab") as log:
        log.write(records.read_bytes())
    rows["small"]["resume"] = first_pair(work / "small.jsonl", work / "out_small", ["--resume"])
    rows["long"]["resume"] = first_pair(work / "long.jsonl", work / "out_long", ["--resume"])
    rows["merge"] = {"records": args.lines, **merge_cost(records, work)}
    print(json.dumps(rows, indent=2))
    if args.record:
        from benchmarks.results import record

        record("manifest_scale", "A million-line manifest: first pair, memory, merge", markdown(rows))


def markdown(rows: dict) -> str:
    lines = ["(`resume` of the long manifest: with as many finished records in `--out` as it has lines.)\n",
             "| manifest | run | s to first pair | peak RSS, job process (MB) | peak PSS, job + check process (MB) |",
             "|---|---|---|---|---|"]
    for name in ("small", "long"):
        for run in ("fresh", "resume"):
            row = rows[name][run]
            lines.append(f"| {rows[name]['lines']:,} lines | {run} | {row['seconds_to_first_pair']} | "
                         f"{row['job_rss_mb']} | {row['job_and_check_pss_mb']} |")
    merge = rows["merge"]
    lines.append(f"\nFinal merge of {merge['records']:,} records (manifest.jsonl, dataset.json, stats.json): "
                 f"{merge['merge_s']} s, peak RSS {merge['merge_peak_rss_mb']} MB.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
