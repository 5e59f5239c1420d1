"""Scale-out as documented: `torchrun --nproc_per_node=2 -m imdl_sigma annotate` (gloo, CPU) writes
the dataset that one process writes, and a rank killed mid-run under `--max-restarts 1` still
leaves every pair exactly once."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imdl_sigma.cli import main

REPO = Path(__file__).resolve().parent.parent
PAIRS = 8
KEEP_ALL = ["--min-area", "0", "--max-area", "1", "--max-aspect-change", "10", "--batch-size", "2"]
TORCHRUN = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")

# Rank 1 dies like a killed process (SIGKILL) on its second batch, once: the restart finishes the job.
KILLED_RANK = """
import os, signal, sys
from pathlib import Path
from imdl_sigma.annotation import annotate as module
from imdl_sigma.cli import main

marker, original = Path(os.environ["KILL_MARKER"]), module.AnnotationJob.annotate_batch
calls = []

def annotate_batch(self, batch):
    calls.append(1)
    if os.environ["RANK"] == "1" and len(calls) == 2 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, batch)

module.AnnotationJob.annotate_batch = annotate_batch
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def manifest(synth_pairs, tmp_path_factory) -> Path:
    root = Path(synth_pairs).parent
    records = [json.loads(line) for line in Path(synth_pairs).read_text().splitlines()][:PAIRS]
    path = tmp_path_factory.mktemp("scaleout") / "pairs.jsonl"
    path.write_text("".join(json.dumps({**r, **{k: str(root / r[k]) for k in ("source", "edited", "mask")}}) + "\n"
                            for r in records))
    return path


def args(manifest: Path, out: Path, checkpoint) -> list[str]:
    return ["annotate", "--pairs", str(manifest), "--out", str(out), "--checkpoint", str(checkpoint), *KEEP_ALL]


def torchrun(script: list[str], tmp: Path, *options: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [TORCHRUN, "--standalone", "--nproc_per_node=2", *options, *script]
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                   "IMDL_SIGMA_DATASETS": str(tmp / "datasets.json"), **(env or {})}
    return subprocess.run(command, cwd=tmp, env=environment, capture_output=True, text=True, timeout=600)


def dataset(out: Path) -> dict[str, bytes]:
    """{pair key: mask bytes}, after checking each pair has exactly one record, entry and mask."""
    keys = [json.loads(line)["key"] for path in sorted((out / "records").glob("rank*.jsonl"))
            for line in path.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == PAIRS, keys
    entries = json.loads((out / "dataset.json").read_text())
    assert len(entries) == len({mask for _, mask in entries}) == PAIRS
    assert json.loads((out / "stats.json").read_text())["pairs"] == PAIRS
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    return {f"{r['corpus']}/{r['id']}": Path(r["mask"]).read_bytes() for r in manifest}


@pytest.fixture(scope="module")
def one_process(manifest, tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "out"
    assert main(args(manifest, out, tiny_checkpoint)) == 0
    return dataset(out)


def test_two_ranks_write_the_dataset_one_process_writes(manifest, tiny_checkpoint, one_process, tmp_path):
    out = tmp_path / "out"
    result = torchrun(["-m", "imdl_sigma", *args(manifest, out, tiny_checkpoint)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(path.name for path in (out / "records").iterdir()) == ["rank0.jsonl", "rank1.jsonl"]
    assert dataset(out) == one_process
    assert json.loads((out / "annotate_config.json").read_text())["world_size"] == 2


def test_a_rank_killed_mid_run_is_restarted_and_every_pair_is_written_once(manifest, tiny_checkpoint, one_process,
                                                                           tmp_path):
    (tmp_path / "killed_rank.py").write_text(KILLED_RANK)
    out, marker = tmp_path / "out", tmp_path / "killed"
    result = torchrun(["killed_rank.py", *args(manifest, out, tiny_checkpoint), "--resume"], tmp_path,
                      "--max-restarts=1", env={"KILL_MARKER": str(marker)})
    assert marker.exists(), result.stderr[-3000:]  # rank 1 was killed
    assert result.returncode == 0, result.stderr[-3000:]
    assert dataset(out) == one_process
