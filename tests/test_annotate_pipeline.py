"""The annotate job's pipeline: decode workers, the writer thread, the host-side resize."""

import json
import signal

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from processes import running

from imdl_sigma.annotation.annotate import AnnotateConfig, FilterConfig, annotate
from imdl_sigma.data.tensors import resize_map
from imdl_sigma.annotation.pipeline import OutputWriter, PendingBatch
from imdl_sigma.data.jsonl import AppendLog
from imdl_sigma.config import SigmaConfig
from imdl_sigma.interrupt import StopRequest
from imdl_sigma.model import SigmaNet
from imdl_sigma.model.checkpoint import save_checkpoint


@pytest.fixture(autouse=True)
def _dataset_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("IMDL_SIGMA_DATASETS", str(tmp_path / "datasets.json"))


@pytest.mark.parametrize("size", [(37, 53), (120, 90), (518, 518)])
def test_host_resize_matches_torch_bilinear(size):
    prob = torch.rand(1, 1, 56, 56)
    reference = F.interpolate(prob, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()
    assert np.abs(resize_map(prob[0, 0].numpy(), size) - reference).max() < 1e-4


def test_decode_workers_change_nothing_but_speed(synth_pairs, tmp_path):
    torch.manual_seed(0)
    config = SigmaConfig.preset("tiny")
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(checkpoint, SigmaNet(config), config, stage=0)
    outputs = {}
    for workers in (0, 2):
        out = tmp_path / f"w{workers}"
        annotate([str(synth_pairs)], str(out), checkpoint=str(checkpoint), progress=False,
                 config=AnnotateConfig(batch_size=5, workers=workers, write_threads=3,
                                       filters=FilterConfig(min_area=0.0, max_area=1.0, max_aspect_change=10)))
        records = [json.loads(line) for line in (out / "records" / "rank0.jsonl").read_text().splitlines()]
        outputs[workers] = {r["key"]: (r["area"], (out / "masks" / r["mask"].rsplit("/", 1)[1]).read_bytes())
                            for r in records}
    assert len(outputs[0]) == 12 and outputs[0] == outputs[2]


def test_writer_failure_stops_the_job_and_records_nothing_after_it(tmp_path):
    def finish(item, prob):
        if item == "bad":
            raise OSError("disk full")
        return {"key": item, "area": float(prob.mean())}

    probs = torch.zeros(2, 1, 4, 4)
    with AppendLog(tmp_path / "records.jsonl") as records, AppendLog(tmp_path / "errors.jsonl") as errors:
        writer = OutputWriter(finish, records, errors, threads=2)
        with pytest.raises(OSError, match="disk full"):  # from a later submit, or from close
            with writer:
                for items in (["a", "b"], ["bad", "c"], ["d", "e"]):
                    writer.submit(PendingBatch.from_device(items, probs))
    keys = [json.loads(line)["key"] for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert keys == ["a", "b"] and writer.written == 2


class SignalledDuringWrite(AppendLog):
    """A records log that receives a second Ctrl-C while the first batch's records are written."""

    def __init__(self, path, stop: StopRequest) -> None:
        super().__init__(path)
        self.stop, self.signalled = stop, False

    def _write(self, data: memoryview) -> int:
        if not self.signalled:
            self.signalled = True
            self.stop(signal.SIGTERM, None)  # the second signal, inside the record write
        return super()._write(data)


def test_a_second_signal_during_a_record_write_finishes_that_batch_and_drops_the_rest(tmp_path):
    stop = StopRequest()
    stop(signal.SIGINT, None)  # the first signal: the job stops submitting, in-flight batches are written
    probs = torch.zeros(2, 1, 4, 4)
    with SignalledDuringWrite(tmp_path / "records.jsonl", stop) as records, \
            AppendLog(tmp_path / "errors.jsonl") as errors:
        writer = OutputWriter(lambda item, prob: {"key": item}, records, errors,
                              threads=2, critical=stop.critical)
        for items in (["a", "b"], ["c", "d"], ["e", "f"]):
            writer.submit(PendingBatch.from_device(items, probs))
        writer.close_draining()
    keys = [json.loads(line)["key"] for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert keys == ["a", "b"] and writer.written == 2 and writer.dropped


class FailingCache:
    """An intent cache whose map of one pair cannot be loaded (any error, not only bad input)."""

    def __init__(self, failing_id: str) -> None:
        self.failing_id = failing_id

    def load(self, pair):
        if pair.id == self.failing_id:
            raise RuntimeError("cache shard corrupt")
        return None


def test_any_failure_decoding_a_pair_is_that_pairs_error_alone(synth_pairs, tmp_path):
    from dataclasses import replace

    from PIL import Image

    from imdl_sigma.annotation.pipeline import PairDecoder
    from imdl_sigma.config import AlignConfig
    from imdl_sigma.data.manifest import read_manifest

    pairs = read_manifest(synth_pairs)[:4]
    thin = tmp_path / "thin.png"
    Image.fromarray(np.zeros((1, 64, 3), np.uint8)).save(thin)  # 1 px tall
    pairs[1] = replace(pairs[1], edited=str(thin))
    decoder = PairDecoder(32, lambda pair: pair.id, intent_cache=FailingCache(pairs[2].id),
                          align=AlignConfig(enabled=True))
    batch = decoder[pairs]
    assert [p.id for p in batch.pairs] == [pairs[0].id, pairs[3].id]
    assert batch.source_px.shape == (2, 32, 32, 3) and len(batch.intent_maps) == 2
    errors = dict(batch.errors)
    assert set(errors) == {pairs[1].id, pairs[2].id}
    assert errors[pairs[1].id] == f"edited image {thin} is 64×1 px; both sides must be at least 2 px"
    assert errors[pairs[2].id] == "could not be decoded: RuntimeError: cache shard corrupt"


ORPHAN = """
import multiprocessing, signal, sys, time
from imdl_sigma.annotation.pipeline import exit_with_parent

def child(watch):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as decode workers do
    if watch:
        exit_with_parent()
    time.sleep(60)

if __name__ == "__main__":
    process = multiprocessing.get_context("forkserver").Process(target=child, args=(sys.argv[1] == "watch",))
    process.start()
    print(process.pid, flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("watch", [True, False], ids=["watchdog", "without (control)"])
def test_a_worker_ends_when_its_parent_is_killed(tmp_path, watch):
    """kill -9 of the parent: the child exits at once with the watchdog; without it, it would live on."""
    import os
    import subprocess
    import sys
    import time

    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN)
    parent = subprocess.Popen([sys.executable, str(script), "watch" if watch else "none"], stdout=subprocess.PIPE,
                              text=True)
    child = int(parent.stdout.readline())
    time.sleep(0.5)  # the child's watchdog thread is waiting
    parent.kill()
    parent.wait()
    deadline = time.time() + (10 if watch else 2)  # the control only has to outlive the parent a while
    while running(child) and time.time() < deadline:
        time.sleep(0.05)
    try:
        assert running(child) != watch
    finally:
        if running(child):
            os.kill(child, signal.SIGKILL)
