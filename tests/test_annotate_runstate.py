"""`benco annotate` never loses, mixes or duplicates a pair across torn files, odd ids, a second
process, another manifest, a full disk and --resume: each case runs the command line in this
process (`main()`, the error policy a user meets) and checks the exit code, the one stderr line
and what was written (exactly one record per pair, each with its own mask)."""

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imdl_sigma.annotation import annotate as annotate_module
from imdl_sigma.cli import main
from imdl_sigma.data.jsonl import AppendLog

KEEP_ALL = ["--min-area", "0", "--max-area", "1", "--max-aspect-change", "10", "--batch-size", "2"]
PAIRS = 6  # pairs of the manifest the fault-injection cases annotate: 3 batches of 2


@pytest.fixture(autouse=True)
def _dataset_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("IMDL_SIGMA_DATASETS", str(tmp_path / "datasets.json"))


def absolute_records(synth_pairs) -> list[dict]:
    """The synthetic pairs with absolute paths and no corpus field (the manifest's folder names it)."""
    root = Path(synth_pairs).parent
    records = [json.loads(line) for line in Path(synth_pairs).read_text().splitlines()]
    paths = ("source", "edited", "mask")
    return [{**{k: v for k, v in r.items() if k != "corpus"}, **{k: str(root / r[k]) for k in paths}} for r in records]


def write_manifest(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def benco(args: list, capsys, cwd: Path | None = None) -> tuple[int, list[str]]:
    """Exit code and the lines `benco` itself wrote on stderr (the progress bar left out)."""
    if cwd is not None:
        os.chdir(cwd)
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, [line for line in err.splitlines() if line.startswith("benco ")]


def annotate_args(manifest, out, tiny_checkpoint, *extra) -> list:
    return ["annotate", "--pairs", manifest, "--out", out, "--checkpoint", tiny_checkpoint, *KEEP_ALL, *extra]


def record_keys(out: Path) -> list[str]:
    return [json.loads(line)["key"] for path in sorted((out / "records").glob("rank*.jsonl"))
            for line in path.read_text().splitlines()]


def assert_each_pair_once(out: Path, count: int) -> dict[str, bytes]:
    """Exactly one record, dataset entry and mask per pair; each mask at its edited image's size.
    Returns {key: mask bytes}."""
    keys = record_keys(out)
    assert len(keys) == len(set(keys)) == count, keys
    dataset = json.loads((out / "dataset.json").read_text())
    assert len(dataset) == len({mask for _, mask in dataset}) == count
    for edited, mask in dataset:
        assert Image.open(mask).size == Image.open(edited).size
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert json.loads((out / "stats.json").read_text())["pairs"] == count
    return {record["corpus"] + "/" + record["id"]: Path(record["mask"]).read_bytes() for record in manifest}


@pytest.fixture()
def six(synth_pairs, tmp_path):
    return write_manifest(tmp_path / "six" / "pairs.jsonl", absolute_records(synth_pairs)[:PAIRS])


@pytest.fixture()
def reference(six, tiny_checkpoint, tmp_path, capsys):
    """The masks of an uninterrupted run on `six`."""
    out = tmp_path / "reference"
    assert benco(annotate_args(six, out, tiny_checkpoint), capsys)[0] == 0
    return out, assert_each_pair_once(out, PAIRS)


def test_a_torn_record_line_is_cut_and_its_pair_redone(reference, six, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "torn"
    shutil.copytree(reference[0], out)
    records = out / "records" / "rank0.jsonl"
    text = records.read_bytes()
    records.write_bytes(text[:len(text) - 40])  # the last record cut mid-line, as a full disk leaves it
    code, lines = benco(annotate_args(six, out, tiny_checkpoint, "--resume"), capsys)
    assert code == 0 and lines == []
    assert assert_each_pair_once(out, PAIRS) == reference[1]


def resized_pair(record: dict, folder: Path, size: tuple[int, int], new_id: str) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key in ("source", "edited", "mask"):
        paths[key] = str(folder / f"{key}_{size[0]}x{size[1]}.png")
        Image.open(record[key]).resize(size).save(paths[key])
    return {**record, **paths, "id": new_id}


def test_ids_that_slug_alike_and_a_300_byte_id_get_files_of_their_own(synth_pairs, tiny_checkpoint, tmp_path,
                                                                        capsys):
    base = absolute_records(synth_pairs)[0]
    ids = ["a/b", "a b", "a_b", "é" * 150]  # the last is 300 bytes of UTF-8
    records = [resized_pair(base, tmp_path / "inputs", (64 + 8 * i, 48 + 4 * i), pair_id)
               for i, pair_id in enumerate(ids)]
    manifest = write_manifest(tmp_path / "odd" / "pairs.jsonl", records)
    out = tmp_path / "out"
    code, lines = benco(annotate_args(manifest, out, tiny_checkpoint, "--mani"), capsys)
    assert code == 0 and lines == []
    masks = assert_each_pair_once(out, len(ids))  # each mask at its own pair's size
    assert all(len(Path(json.loads(line)["mask"]).name.encode()) < 100
               for line in (out / "manifest.jsonl").read_text().splitlines())
    assert len(list((out / "mani" / "Gt").iterdir())) == len(ids)
    code, lines = benco(annotate_args(manifest, out, tiny_checkpoint, "--resume"), capsys)  # nothing left to do
    assert code == 0 and assert_each_pair_once(out, len(ids)) == masks


def test_export_names_image_files_per_id(tmp_path):
    from imdl_sigma.data.corpora.export import materialize
    from imdl_sigma.data.corpora.sample import Blob, CorpusSample
    from tests.corpus_files import encoded

    pairs = [materialize(CorpusSample(pair_id, Blob(data=encoded(i)), Blob(data=encoded(i + 10))), tmp_path)
             for i, pair_id in enumerate(["a/b", "a b", "a_b", "x" * 400])]
    edited = [Path(pair.edited) for pair in pairs]
    assert len(set(edited)) == 4
    assert [path.read_bytes() for path in edited] == [encoded(i + 10) for i in range(4)]


def test_resume_with_the_manifest_spelled_differently_adds_nothing(six, tiny_checkpoint, tmp_path, capsys,
                                                                   monkeypatch):
    out = tmp_path / "out"
    monkeypatch.chdir(six.parent)
    assert benco(annotate_args(six.name, out, tiny_checkpoint), capsys)[0] == 0
    code, lines = benco(annotate_args(f"../{six.parent.name}/./{six.name}", out, tiny_checkpoint, "--resume"),
                        capsys, cwd=tmp_path / "out")
    assert code == 0 and lines == []
    assert_each_pair_once(out, PAIRS)


def test_failed_pairs_are_counted_once_across_resumes(six, tiny_checkpoint, tmp_path, capsys):
    records = [json.loads(line) for line in six.read_text().splitlines()][:3]
    records[1]["edited"] = str(tmp_path / "missing.png")
    manifest = write_manifest(tmp_path / "mixed" / "pairs.jsonl", records)
    out = tmp_path / "out"
    failed_line = f"benco annotate: 1 of 3 pairs failed; they are listed in {out}/errors.jsonl"
    for resume in ([], ["--resume"], ["--resume"]):
        code, lines = benco(annotate_args(manifest, out, tiny_checkpoint, *resume), capsys)
        assert code == 0 and lines == [failed_line]
    errors = (out / "errors.jsonl").read_text().splitlines()
    assert len(errors) == 1 and json.loads(errors[0])["key"] == f"mixed/{records[1]['id']}"
    assert_each_pair_once(out, 2)


def test_an_out_holding_only_failures_needs_resume(six, tiny_checkpoint, tmp_path, capsys):
    records = [{**json.loads(line), "edited": str(tmp_path / "missing.png")} for line in six.read_text().splitlines()]
    manifest = write_manifest(tmp_path / "failing" / "pairs.jsonl", records[:2])
    out = tmp_path / "out"
    assert benco(annotate_args(manifest, out, tiny_checkpoint), capsys)[0] == 1
    code, lines = benco(annotate_args(six, out, tiny_checkpoint), capsys)
    assert code == 2 and len(lines) == 1
    assert f"{out} already holds an annotation run (its records or errors); pass --resume" in lines[0]
    assert record_keys(out) == []


def test_a_second_run_on_the_same_out_is_refused_and_a_dead_holder_blocks_nothing(six, tiny_checkpoint, tmp_path,
                                                                                   capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from pathlib import Path\n"
                               "from imdl_sigma.annotation.runstate import OutLock\n"
                               "with OutLock(Path(sys.argv[1]), 0):\n"
                               "    print('locked', flush=True)\n"
                               "    time.sleep(600)\n", str(out)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    try:
        assert holder.stdout.readline() == "locked\n"
        code, lines = benco(annotate_args(six, out, tiny_checkpoint), capsys)
        assert code == 2 and lines == [f"benco annotate: error: {out} is being written by another benco annotate "
                                       f"(pid {holder.pid}); wait for it to end, or choose another --out"]
        assert not (out / "records").exists()
    finally:
        holder.kill()
        holder.wait()
    assert (out / ".lock.rank0").read_text() == str(holder.pid)  # the dead holder's pid is still written there
    assert benco(annotate_args(six, out, tiny_checkpoint), capsys)[0] == 0
    assert_each_pair_once(out, PAIRS)


def test_resume_with_another_manifest_needs_extend_and_records_both(synth_pairs, six, tiny_checkpoint, tmp_path,
                                                                    capsys):
    other = write_manifest(tmp_path / "other" / "pairs.jsonl", absolute_records(synth_pairs)[PAIRS:PAIRS + 2])
    out = tmp_path / "out"
    assert benco(annotate_args(six, out, tiny_checkpoint), capsys)[0] == 0
    code, lines = benco(annotate_args(other, out, tiny_checkpoint, "--resume"), capsys)
    assert code == 2 and len(lines) == 1
    assert f"{out} was made from {six}, not {other}; pass --extend" in lines[0]
    assert len(record_keys(out)) == PAIRS
    code, lines = benco(annotate_args(other, out, tiny_checkpoint, "--extend"), capsys)
    assert code == 0 and lines == []
    assert json.loads((out / "annotate_config.json").read_text())["manifests"] == [str(six), str(other)]
    assert_each_pair_once(out, PAIRS + 2)


class DiskFull:
    """Faults injected into the writer: the records log takes `budget` bytes and then fails, or
    the `mask_call`-th mask write stores half its PNG and then fails, both as a full disk does."""

    def __init__(self, monkeypatch, budget: int | None = None, mask_call: int | None = None) -> None:
        self.budget, self.mask_call, self.calls = budget, mask_call, 0
        real_write, real_save = AppendLog._write, annotate_module.save_mask
        fault = self

        def write(log, data):
            if fault.budget is None or not log.path.name.startswith("rank"):
                return real_write(log, data)
            if fault.budget < len(data):
                if fault.budget:
                    real_write(log, data[:fault.budget])
                fault.budget = 0
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            fault.budget -= len(data)
            return real_write(log, data)

        def save_mask(path, mask):
            fault.calls += 1
            if fault.calls == fault.mask_call:
                from imdl_sigma.data.images import encode_png

                Path(path).write_bytes(encode_png(mask.astype(np.uint8) * 255)[:100])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real_save(path, mask)

        monkeypatch.setattr(AppendLog, "_write", write)
        monkeypatch.setattr(annotate_module, "save_mask", save_mask)


@pytest.mark.parametrize("where", ["first record", "mid second batch", "last batch's records", "third mask"])
def test_disk_full_is_one_line_and_resume_gives_byte_identical_masks(where, reference, six, tiny_checkpoint,
                                                                     tmp_path, capsys, monkeypatch):
    lengths = [len(line) for line in (reference[0] / "records" / "rank0.jsonl").read_bytes().splitlines(True)]
    budget = {"first record": 10, "mid second batch": sum(lengths[:3]) - 5,
              "last batch's records": sum(lengths[:5]) + 7}.get(where)
    with monkeypatch.context() as patches:
        DiskFull(patches, budget=budget, mask_call=3 if where == "third mask" else None)
        out = tmp_path / "out"
        code, lines = benco(annotate_args(six, out, tiny_checkpoint), capsys)
    failed = out / "records" / "rank0.jsonl" if budget is not None else out / "masks"
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"benco annotate: error: {failed}") and lines[0].endswith(": No space left on device")
    code, lines = benco(annotate_args(six, out, tiny_checkpoint, "--resume"), capsys)
    assert code == 0 and lines == []
    assert assert_each_pair_once(out, PAIRS) == reference[1]
