"""One error policy for every `benco` subcommand, as a user meets it: `python -m imdl_sigma` in a
subprocess. Bad input: exit 2 and exactly one stderr line, no traceback, no dependency noise;
nothing done: exit 1; partial failure: exit 0 and the count on stderr; Ctrl-C / SIGTERM: exit 130
with the resume command, and the resumed run annotates every pair exactly once.

Cases that need a process of their own (start-up prints, signals) run as processes started
together; the others through `main()` in this one, which applies the same policy."""

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from image_files import png_header_only
from processes import descendants, running

REPO = Path(__file__).resolve().parent.parent
MANY = 20  # pairs of the manifest that is interrupted: 10 batches of 2


def benco_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}  # warnings as a user gets them
    return {**env, "IMDL_SIGMA_DATASETS": str(tmp / "datasets.json"), "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO)}


def benco(args: list[str], tmp: Path, **popen):
    return subprocess.Popen([sys.executable, "-m", "imdl_sigma", *args], cwd=tmp, env=benco_env(tmp),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finish(process, timeout: float = 600) -> subprocess.CompletedProcess:
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, synth_pairs):
    """Tiny inputs shared by every case: manifests, datasets and checkpoints."""
    import torch

    from imdl_sigma.config import SigmaConfig
    from imdl_sigma.data.manifest import read_manifest
    from imdl_sigma.model import SigmaNet
    from imdl_sigma.model.checkpoint import save_checkpoint

    tmp = tmp_path_factory.mktemp("cli_errors")
    pairs = read_manifest(synth_pairs)
    records = [json.loads(line) for line in Path(synth_pairs).read_text().splitlines()]
    root = Path(synth_pairs).parent

    def manifest(name: str, lines: list, encoding: str = "utf-8") -> str:
        path = root / name
        path.write_bytes("".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n"
                                 for line in lines).encode(encoding))
        return str(path)

    torch.manual_seed(0)
    config = SigmaConfig.preset("tiny")  # a DINOv2 backbone (random, tiny)
    save_checkpoint(tmp / "tiny.pt", SigmaNet(config), config, stage=0)
    (tmp / "empty_dataset").mkdir()
    (tmp / "empty_dataset" / "dataset.json").write_text("[]")
    (tmp / "one_pair").mkdir()
    (tmp / "one_pair" / "dataset.json").write_text(json.dumps([[pairs[0].edited, pairs[0].mask]]))
    many = [{**records[i % len(records)], "id": f"p{i:03d}"} for i in range(MANY)]
    bad_registry = inputs_case_folder(tmp, "bad registry")
    (bad_registry / "datasets.json").write_text("{not json")
    return {
        "tmp": tmp, "tiny": str(tmp / "tiny.pt"),
        "empty": manifest("empty.jsonl", []),
        "bad_line": manifest("bad_line.jsonl", [records[0], "{not json"]),
        "all_fail": manifest("all_fail.jsonl", [{**r, "edited": f"missing_{r['id']}.png"} for r in records[:2]]),
        "half_fail": manifest("half_fail.jsonl", [{**records[0], "edited": "missing.png"}, records[1]]),
        "many": manifest("many.jsonl", many),
        "latin1": manifest("latin1.jsonl", [{**records[0], "instruction": "make the café red"}], "latin-1"),
        "utf16": manifest("utf16.jsonl", records[:2], "utf-16"),
        "deep": manifest("deep.jsonl", [records[0], '{"id": ' + "[" * 100_000 + "]" * 100_000 + "}"]),
        "id0": manifest("id0.jsonl", [{**records[0], "id": 0}]),
        "id_false": manifest("id_false.jsonl", [records[0], {**records[1], "id": False}]),
        "odd_images": manifest("odd_images.jsonl", odd_image_pairs(root, records)),
    }


def odd_image_pairs(root: Path, records: list[dict]) -> list[dict]:
    """Pairs as cameras and tools write them, each beside the plain pair it must read as: an
    edited image stored turned with EXIF orientation 6; a pair in 16-bit greyscale beside the same
    in 8 bits; and two that cannot be used: 1 px tall, and 20000 × 20000 px (over the limit)."""
    from PIL import Image

    folder = root / "odd"
    folder.mkdir(exist_ok=True)
    plain, grey = records[1], records[2]
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise: stored turned 90° counter-clockwise
    Image.open(root / plain["edited"]).transpose(Image.Transpose.ROTATE_90).save(folder / "turned.png", exif=exif)
    for role in ("source", "edited"):
        levels = np.asarray(Image.open(root / grey[role]).convert("L"))
        Image.fromarray(levels).save(folder / f"grey8_{role}.png")
        Image.fromarray(levels.astype(np.uint16) * 257).save(folder / f"grey16_{role}.png")
    Image.fromarray(np.zeros((1, 64, 3), np.uint8)).save(folder / "thin.png")
    (folder / "huge.png").write_bytes(png_header_only(20000, 20000))
    return [{**plain, "id": "plain"}, {**plain, "id": "turned", "edited": "odd/turned.png"},
            *({**grey, "id": f"grey{bits}", "source": f"odd/grey{bits}_source.png",
               "edited": f"odd/grey{bits}_edited.png"} for bits in (8, 16)),
            {**plain, "id": "thin", "edited": "odd/thin.png"}, {**plain, "id": "huge", "edited": "odd/huge.png"}]


# (name, argv with {placeholders}, text of the one stderr line, run as a process or through main()).
# Processes where start-up matters: dependency warnings, IMDL-BenCo's import print, argparse exits.
BAD_INPUT = [
    ("empty manifest", ["annotate", "--pairs", "{empty}", "--out", "out"], "empty.jsonl: no pair in it", "process"),
    ("bad manifest line", ["annotate", "--pairs", "{bad_line}", "--out", "out"],
     "bad_line.jsonl:2: not valid JSON", "main"),
    ("latin-1 manifest", ["annotate", "--pairs", "{latin1}", "--out", "out"], "latin1.jsonl:1: not UTF-8 text",
     "main"),
    ("utf-16 manifest", ["annotate", "--pairs", "{utf16}", "--out", "out"], "utf16.jsonl:1: not UTF-8 text", "main"),
    ("line nested 100,000 deep", ["annotate", "--pairs", "{deep}", "--out", "out"],
     "deep.jsonl:2: not valid JSON (nested too deeply)", "main"),
    ("id 0", ["annotate", "--pairs", "{id0}", "--out", "out"], "id0.jsonl:1: id must be a non-empty string", "main"),
    ("id false", ["annotate", "--pairs", "{id_false}", "--out", "out"],
     "id_false.jsonl:2: id must be a non-empty string", "main"),
    ("missing manifest", ["annotate", "--pairs", "/nonexistent/pairs.jsonl", "--out", "o"], "manifest not found",
     "main"),
    ("weights for a stand-in", ["annotate", "--pairs", "{many}", "--out", "o", "--backbone-weights", "{tmp}"],
     "cannot apply: checkpoint the bundled stand-in has a 'standin_cnn' backbone", "main"),
    ("missing weights dir", ["annotate", "--pairs", "{many}", "--out", "o", "--checkpoint", "{tiny}",
                             "--backbone-weights", "/nonexistent/dinov2"],
     "--backbone-weights /nonexistent/dinov2: no such file or directory", "main"),
    ("weights for a stand-in config", ["train", "--pairs", "{many}", "--out", "o", "--config", "standin",
                                       "--backbone-weights", "{tmp}"], "has a 'standin_cnn' backbone", "main"),
    ("unknown config", ["train", "--pairs", "{many}", "--out", "o", "--config", "nope"],
     "error: 'nope' is neither a SIGMA preset", "main"),
    ("unknown detector", ["finetune", "--model", "nosuch", "--data", "D", "--out", "o"],
     "error: unknown detector 'nosuch'; choose from cat_net", "process"),
    ("empty dataset", ["finetune", "--model", "pscc_net", "--data", "{tmp}/empty_dataset", "--out", "o",
                       "--random-init"], "empty_dataset/dataset.json) has no image", "main"),
    ("weights a detector needs", ["finetune", "--model", "trufor", "--data", "{tmp}/one_pair", "--out", "o"],
     "--weights noiseprint=FILE", "main"),
    ("missing photos folder", ["synth", "--out", "o", "--n", "1", "--images", "/nonexistent"],
     "--images folder not found", "main"),
    ("stage 2 without a VAE", ["train", "--stage", "2", "--pairs", "P", "--out", "o", "--config", "tiny"],
     "needs a Stable Diffusion VAE", "main"),
    ("stage 2 without unlabeled pairs", ["train", "--stage", "2", "--pairs", "P", "--out", "o", "--config", "tiny",
                                         "--vae", "{tmp}"], "needs unlabeled editing pairs", "main"),
    ("missing parser weights", ["parse", "remove the cat", "--backend", "llm", "--parser-weights", "/nonexistent/llm"],
     "--parser-weights /nonexistent/llm: no such file or directory", "main"),
    ("feature cache without a frozen backbone", ["train", "--pairs", "P", "--out", "o", "--config", "standin",
                                                 "--cache-features", "C"], "frozen backbone", "main"),
    ("missing weight file", ["finetune", "--model", "mvss_net", "--data", "{tmp}/one_pair", "--out", "o",
                             "--weights", "resnet50=/none.pth"], "weight file for 'resnet50' not found", "process"),
    ("missing checkpoint", ["demo", "--checkpoint", "/nonexistent.pt", "--n", "1", "--out", "d"],
     "checkpoint not found: /nonexistent.pt", "main"),
    ("unknown method", ["bench", "masks", "--pairs", "{many}", "--methods", "nosuch", "--out", "o"],
     "unknown method 'nosuch'", "main"),
    ("attack level out of range", ["bench", "robustness", "--pairs", "{many}", "--methods", "pixdiff-otsu",
                                   "--box-blur", "4", "--out", "o"], "box_blur level 4 is out of range", "main"),
    ("attack level not a number", ["bench", "robustness", "--pairs", "{many}", "--methods", "pixdiff-otsu",
                                   "--jpeg", "90,high", "--out", "o"], "--jpeg takes comma-separated numbers", "main"),
    ("usage error", ["annotate", "--pairs", "{many}"], "the following arguments are required: --out", "process"),
    ("batch size 0", ["annotate", "--pairs", "{many}", "--out", "o", "--batch-size", "0"],
     "argument --batch-size: must be ≥ 1, got 0", "main"),
    ("negative batch size", ["annotate", "--pairs", "{many}", "--out", "o", "--batch-size", "-1"],
     "argument --batch-size: must be ≥ 1, got -1", "main"),
    ("negative workers", ["annotate", "--pairs", "{many}", "--out", "o", "--workers", "-1"],
     "argument --workers: must be ≥ 0, got -1", "main"),
    ("area over 1", ["annotate", "--pairs", "{many}", "--out", "o", "--min-area", "2"],
     "argument --min-area: must be in [0, 1], got 2", "main"),
    ("not a number", ["bench", "speed", "--pairs", "{many}", "--limit", "ten"],
     "argument --limit: expected an integer, got 'ten'", "main"),
    ("unknown device", ["annotate", "--pairs", "{many}", "--out", "o", "--device", "foo"],
     "argument --device: 'foo' is not a device; use cpu, cuda or cuda:N", "main"),
    ("absent GPU", ["ground", "--pairs", "{many}", "--out", "o", "--device", "cuda:99"],
     "argument --device: 'cuda:99': ", "main"),  # no CUDA GPU here, or no GPU 99
    ("negative pair count", ["synth", "--out", "o", "--n", "-3"], "argument --n: must be ≥ 1, got -3", "main"),
    ("bad registry", ["annotate", "--pairs", "{many}", "--out", "o", "--checkpoint", "{tiny}", "--name", "mine"],
     "datasets.json is not valid JSON", "process"),
    ("quality filter out of range", ["annotate", "--pairs", "{many}", "--out", "o", "--min-quality", "1.5"],
     "argument --min-quality: must be in [0, 1], got 1.5", "main"),
]


def inputs_case_folder(tmp: Path, name: str) -> Path:
    folder = tmp / "cases" / name.replace(" ", "_")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def case_folder(inputs, name: str) -> Path:
    return inputs_case_folder(inputs["tmp"], name)


# Whole jobs, run as processes (their log lines go to stderr as a user sees them).
JOBS = {
    "debug": ["annotate", "--pairs", "{empty}", "--out", "o", "--debug"],
    "all failed": ["annotate", "--pairs", "{all_fail}", "--out", "{tmp}/all_failed", "--checkpoint", "{tiny}"],
    "partial": ["annotate", "--pairs", "{half_fail}", "--out", "{tmp}/partial", "--checkpoint", "{tiny}"],
    "odd images": ["annotate", "--pairs", "{odd_images}", "--out", "{tmp}/odd_images", "--checkpoint", "{tiny}",
                   "--filter", "flag"],
}


@pytest.fixture(scope="module")
def process_runs(inputs):
    """The BAD_INPUT cases that run as processes and the JOBS, started together."""
    cases = {name: argv for name, argv, _, how in BAD_INPUT if how == "process"} | JOBS

    def run(name):
        argv = [a.format(**inputs) for a in cases[name]]
        return name, finish(benco(argv, case_folder(inputs, name)))

    with ThreadPoolExecutor(4) as pool:
        return dict(pool.map(run, cases))


@pytest.mark.parametrize("name, argv, message, how", BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(inputs, request, name, argv, message, how, capsys, monkeypatch):
    if how == "process":
        result = request.getfixturevalue("process_runs")[name]
        code, out, err = result.returncode, result.stdout, result.stderr
    else:
        from imdl_sigma.cli import main

        monkeypatch.chdir(case_folder(inputs, name))
        try:
            code = main([a.format(**inputs) for a in argv])
        except SystemExit as usage_error:  # argparse's exit, which a process turns into its code
            code = usage_error.code
        out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, err  # no traceback, no warnings, no progress bar
    assert lines[0].startswith(f"benco {argv[0]}") and message in lines[0], lines[0]
    assert "Traceback" not in err and "HFValidationError" not in lines[0]
    assert out == ""  # nor IMDL-BenCo's import print
    if "--out" in argv and argv[0] != "finetune":  # nothing was written (finetune makes --out first)
        assert not (case_folder(inputs, name) / argv[argv.index("--out") + 1]).exists()


def test_debug_shows_the_traceback(process_runs):
    result = process_runs["debug"]
    assert result.returncode == 1 and "Traceback" in result.stderr and "BadInputError" in result.stderr


def test_every_pair_failed_exits_1(process_runs):
    result = process_runs["all failed"]
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("benco annotate: error: all 2 pairs failed (first: edited image file not found")
    assert "all_failed/errors.jsonl" in last


def test_partial_failure_exits_0_with_count_and_errors_file(inputs, process_runs):
    out, result = inputs["tmp"] / "partial", process_runs["partial"]
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == f"benco annotate: 1 of 2 pairs failed; they are listed in {out}/errors.jsonl"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["pairs"] == 1 and stats["errors"] == 1
    assert "annotated 1 pairs, 1 failed, 0 were already done" in result.stderr  # the log agrees with stats


def test_unusable_images_are_their_pairs_errors_and_odd_ones_read_as_shown(inputs, process_runs):
    """One batch: a 1-px and an oversized image are one error each, the other pairs are annotated;
    an image turned by EXIF, or in 16 bits, gets the mask of the same image stored plainly."""
    from PIL import Image

    out, result = inputs["tmp"] / "odd_images", process_runs["odd images"]
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == f"benco annotate: 2 of 6 pairs failed; they are listed in {out}/errors.jsonl"
    errors = {e["key"].split("/")[-1]: e["error"] for e in map(json.loads, (out / "errors.jsonl").read_text().splitlines())}
    assert set(errors) == {"thin", "huge"}
    assert errors["thin"].endswith("thin.png is 64×1 px; both sides must be at least 2 px")
    assert errors["huge"].endswith("huge.png is 20000×20000 = 400000000 px, over the limit of 268435456 px "
                                   "(--max-image-pixels raises it)")
    records = {r["id"]: r for r in records_of(out)}
    assert sorted(records) == ["grey16", "grey8", "plain", "turned"]
    assert "size_mismatch" not in records["turned"]["flags"]
    masks = {key: np.asarray(Image.open(record["mask"])) for key, record in records.items()}
    assert np.array_equal(masks["turned"], masks["plain"]) and np.array_equal(masks["grey16"], masks["grey8"])


def records_of(out: Path) -> list[dict]:
    path = out / "records" / "rank0.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_keeps_whole_batches_and_prints_the_resume_command(inputs, signum):
    out = inputs["tmp"] / f"interrupted_{signum.name}"
    argv = ["annotate", "--pairs", inputs["many"], "--out", str(out), "--checkpoint", inputs["tiny"],
            "--batch-size", "2"]
    process = benco(argv, inputs["tmp"])
    deadline = time.time() + 120
    while not records_of(out) and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    process.send_signal(signum)
    result = finish(process)
    assert result.returncode == 130, result.stderr
    done = records_of(out)  # every line whole: json.loads above would fail on a torn one
    assert 0 < len(done) < MANY and len(done) % 2 == 0  # whole batches of 2 only
    last = result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert last.startswith(f"benco annotate: interrupted, {len(done)} of {MANY} pairs done; continue with: benco annotate ")
    assert last.endswith(" --resume")
    if signum == signal.SIGINT:  # the printed command finishes the job, each pair once
        resumed = finish(benco(argv + ["--resume"], inputs["tmp"]))
        assert resumed.returncode == 0, resumed.stderr
        keys = [r["key"] for r in records_of(out)]
        assert len(keys) == len(set(keys)) == MANY
        assert json.loads((out / "stats.json").read_text())["pairs"] == MANY


def test_a_second_signal_stops_at_once_but_not_inside_a_write(capsys):
    from imdl_sigma.interrupt import StopRequest

    stop = StopRequest()
    stop(signal.SIGINT, None)  # the first only asks
    assert stop.requested and "stopping after the current batch" in capsys.readouterr().err
    written = False
    with pytest.raises(KeyboardInterrupt):
        with stop.critical():
            stop(signal.SIGTERM, None)  # held until the write is done
            written = True
    assert written
    with pytest.raises(KeyboardInterrupt):
        stop(signal.SIGINT, None)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_while_starting_is_one_line_and_exit_130(inputs, signum, monkeypatch, capsys):
    """The signal arrives while the parser is being built (torch and the configs are imported then):
    sent by the process to itself from inside build_parser, so the moment is exact, not a race."""
    cli_main = importlib.import_module("imdl_sigma.cli.main")

    build_parser = cli_main.build_parser

    def interrupted_build(command: str):
        os.kill(os.getpid(), signum)
        time.sleep(1)  # the handler runs at the next bytecode boundary, well inside this second
        return build_parser(command)

    monkeypatch.setattr(cli_main, "build_parser", interrupted_build)
    out = inputs["tmp"] / f"early_{signum.name}"
    code = cli_main.main(["annotate", "--pairs", inputs["many"], "--out", str(out), "--checkpoint", inputs["tiny"]])
    assert code == 130
    assert capsys.readouterr().err == "benco annotate: interrupted while starting; nothing was done\n"
    assert not out.exists()


def test_kill_9_leaves_no_decode_worker_fork_server_or_resource_tracker(inputs):
    out = inputs["tmp"] / "killed"
    process = benco(["annotate", "--pairs", inputs["many"], "--out", str(out), "--checkpoint", inputs["tiny"],
                     "--batch-size", "2", "--workers", "2"], inputs["tmp"])
    deadline = time.time() + 120
    while len(descendants(process.pid)) < 4 and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)  # the resource tracker, the fork server and its two workers
    helpers = descendants(process.pid)
    assert len(helpers) >= 4, helpers
    process.kill()
    process.wait()
    deadline = time.time() + 30
    while any(map(running, helpers)) and time.time() < deadline:
        time.sleep(0.05)
    left = [pid for pid in helpers if running(pid)]
    for pid in left:  # not to leak them into the rest of the run
        os.kill(pid, signal.SIGKILL)
    assert not left
