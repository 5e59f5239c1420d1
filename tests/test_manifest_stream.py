"""Manifests streamed and checked beside the work, file names per pair, append-only logs."""

import json
import threading

import pytest

from imdl_sigma.annotation.runstate import finished_keys, line_key
from imdl_sigma.data.jsonl import read_jsonl, repair_tail
from imdl_sigma.data.manifest import ManifestError
from imdl_sigma.data.pairs import ManifestPairs, file_stem
from imdl_sigma.errors import BadInputError


def lines(count: int, bad: dict[int, str] | None = None) -> str:
    rows = [json.dumps({"id": f"p{i}", "source": "s.png", "edited": "e.png"}) for i in range(count)]
    for number, text in (bad or {}).items():
        rows[number - 1] = text
    return "".join(row + "\n" for row in rows)


def test_a_bad_line_found_after_work_started_stops_the_stream(tmp_path, monkeypatch):
    manifest = tmp_path / "c" / "pairs.jsonl"
    manifest.parent.mkdir()
    manifest.write_text(lines(3000, {2999: "{torn"}))
    first_pair_used = threading.Event()
    report_progress = ManifestPairs._passed

    def check_held_until_work_started(self, index: int, number: int) -> None:
        report_progress(self, index, number)  # its first report lets the first pairs through
        assert first_pair_used.wait(30)  # and the check goes on only once one is used

    monkeypatch.setattr(ManifestPairs, "_passed", check_held_until_work_started)
    pairs = ManifestPairs([str(manifest)], skip_bad=False, wait_s=0)
    stream = iter(pairs)
    assert next(stream).id == "p0"
    first_pair_used.set()
    with pytest.raises(ManifestError, match=r"1 bad line\(s\): .*pairs.jsonl:2999: not valid JSON"):
        list(stream)


def test_skip_bad_streams_every_good_pair_once_with_its_folder_as_corpus(tmp_path, monkeypatch):
    manifest = tmp_path / "corpus_a" / "pairs.jsonl"
    manifest.parent.mkdir()
    manifest.write_text(lines(600, {5: '{"id": 0, "source": "s", "edited": "e"}', 7: lines(1).strip()}))
    monkeypatch.chdir(manifest.parent)
    pairs = ManifestPairs(["pairs.jsonl"], skip_bad=True, wait_s=0)
    listed = list(pairs)
    assert [p.id for p in listed] == [f"p{i}" for i in range(600) if i not in (4, 6)]  # line 7 repeats p0
    assert len(pairs) == 598 and {p.corpus for p in listed} == {"corpus_a"}
    assert listed[0].source == str(manifest.parent / "s.png")


def test_a_key_in_two_manifests_and_an_empty_manifest_are_bad_input(tmp_path):
    for name, text in (("a", lines(2)), ("b", lines(2)), ("empty", "\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pairs.jsonl").write_text(text)
    (tmp_path / "b" / "pairs.jsonl").write_text(lines(2).replace('"id"', '"corpus": "a", "id"'))
    with pytest.raises(BadInputError, match="pair a/p0 appears in more than one manifest"):
        ManifestPairs([str(tmp_path / "a" / "pairs.jsonl"), str(tmp_path / "b" / "pairs.jsonl")], False)
    with pytest.raises(BadInputError, match="empty/pairs.jsonl: no pair in it"):
        ManifestPairs([str(tmp_path / "empty" / "pairs.jsonl")], False)


def test_the_check_runs_in_its_own_session_and_ends_when_the_job_stops_reading(tmp_path):
    import os

    from imdl_sigma.data.pairs import start_check

    manifest = tmp_path / "c" / "pairs.jsonl"
    manifest.parent.mkdir()
    manifest.write_text(lines(20000))
    check = start_check([str(manifest)], skip_bad=False)
    assert os.getsid(check.pid) != os.getsid(0)  # Ctrl-C at the terminal reaches the job, not the check
    assert json.loads(check.stdout.readline()) == ["passed", 0, 256]
    check.stdout.close()  # the job is gone: the check's next report finds nobody and it exits quietly
    assert check.wait(timeout=30) == 0 and check.stderr.read() == b""


def test_a_check_that_dies_is_an_error_where_the_pairs_are_used(tmp_path, monkeypatch):
    import subprocess
    import sys

    from imdl_sigma.data import pairs as pairs_module

    manifest = tmp_path / "c" / "pairs.jsonl"
    manifest.parent.mkdir()
    manifest.write_text(lines(3))
    dying = [sys.executable, "-c", "import sys; sys.stderr.write('killed for memory\\n'); sys.exit(3)"]
    monkeypatch.setattr(pairs_module, "start_check", lambda manifests, skip_bad: subprocess.Popen(
        dying, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    with pytest.raises(RuntimeError, match="manifest check stopped \\(exit code 3\\): killed for memory"):
        ManifestPairs([str(manifest)], skip_bad=False)


def test_file_stems_are_unique_per_key_and_bounded():
    keys = ["c/a/b", "c/a b", "c/a_b", "c/" + "é" * 300, "c/" + "x" * 1000, "c/..", "c/"]
    stems = [file_stem(key) for key in keys]
    assert len(set(stems)) == len(keys)
    assert all(len(stem.encode()) <= 80 and not stem.startswith(".") and "/" not in stem for stem in stems)
    assert stems[0].startswith("c_a_b-") and file_stem("c/a/b") == stems[0]


@pytest.mark.parametrize("tail, kept", [(b"", 2), (b'{"key": "c", "ar', 2), (b'{"key": "c"}\n', 3)])
def test_repair_tail_cuts_only_a_torn_last_line(tmp_path, tail, kept):
    log = tmp_path / "rank0.jsonl"
    log.write_bytes(b'{"key": "a"}\n{"key": "b"}\n' + tail)
    repair_tail(log)
    assert [r["key"] for r in read_jsonl(log)] == ["a", "b", "c"][:kept]
    assert log.read_bytes().endswith(b"\n")


def test_finished_keys_read_the_key_alone_and_skip_broken_lines(tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    whole = json.dumps({"key": 'c/q"uo\\te', "area": 0.5}) + "\n"
    run_together = '{"key": "c/x", "ar{"key": "c/y", "area": 1}\n'  # an old torn line with a record after it
    reordered = json.dumps({"area": 1, "key": "c/z"}) + "\n"
    (records / "rank0.jsonl").write_text(whole + run_together + reordered)
    (records / "rank1.jsonl").write_text('{"key": "c/w"}\n{"key": "c/v", "ar')
    assert line_key(whole) == 'c/q"uo\\te' and line_key(run_together) is None
    assert finished_keys(tmp_path) == {'c/q"uo\\te', "c/z", "c/w"}


def test_fed_inputs_grow_only_with_extend_and_need_a_readable_config(tmp_path):
    from imdl_sigma.annotation.runstate import fed_inputs

    (tmp_path / "annotate_config.json").write_text(json.dumps({"manifests": ["/m/a.jsonl"], "corpora": {}}))
    again = {"manifests": ["/m/a.jsonl"], "corpora": {}}
    other = {"manifests": ["/m/b.jsonl"], "corpora": {"anyedit": "/c"}}
    assert fed_inputs(tmp_path, again, extend=False) == again
    with pytest.raises(BadInputError, match="made from /m/a.jsonl, not /m/b.jsonl; pass --extend"):
        fed_inputs(tmp_path, other, extend=False)
    assert fed_inputs(tmp_path, other, extend=True) == {"manifests": ["/m/a.jsonl", "/m/b.jsonl"],
                                                        "corpora": {"anyedit": "/c"}}
    (tmp_path / "annotate_config.json").write_text("{torn")
    with pytest.raises(BadInputError, match="annotate_config.json: not valid JSON"):
        fed_inputs(tmp_path, again, extend=False)
