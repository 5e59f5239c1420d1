"""Every corpus reader on a fixture that reproduces its published layout (made here, tiny)."""

import io
import json
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from imdl_sigma.cli import main
from imdl_sigma.data.corpora import edit_type_from_task, open_corpus
from imdl_sigma.data.corpora.export import export_corpus
from imdl_sigma.data.images import load_mask
from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.errors import BadInputError

SIZE = (40, 32)  # width, height


def encoded(seed: int, fmt: str = "PNG", size=SIZE) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def mask_bytes(seed: int, values=(0, 255), size=SIZE) -> bytes:
    mask = np.zeros((size[1], size[0]), np.uint8)
    mask[seed % 10: seed % 10 + 8, 4:20] = values[1]
    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, format="PNG")
    return buffer.getvalue()


def expected_mask(seed: int) -> np.ndarray:
    mask = np.zeros((SIZE[1], SIZE[0]), bool)
    mask[seed % 10: seed % 10 + 8, 4:20] = True
    return mask


def image_cell(data: bytes) -> dict:
    return {"bytes": data, "path": None}  # how `datasets` stores Image features in parquet


def write_parquet(path, rows: list[dict], row_group_size: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)


def export(name, root, tmp_path, **kwargs):
    out = tmp_path / f"{name}_out"
    counts = export_corpus(name, root, out, progress=False, **kwargs)
    return counts, read_manifest(out / "pairs.jsonl"), out


# ---- parquet corpora -------------------------------------------------------------------------

def test_magicbrush_parquet(tmp_path):
    rows = [{"img_id": "327726", "turn_index": turn, "source_img": image_cell(encoded(turn)),
             "mask_img": image_cell(mask_bytes(turn)), "instruction": f"let the cat wear hat {turn}",
             "target_img": image_cell(encoded(10 + turn))} for turn in (1, 2, 3)]
    write_parquet(tmp_path / "mb" / "data" / "dev-00000-of-00001.parquet", rows)
    counts, pairs, _ = export("magicbrush", tmp_path / "mb", tmp_path)
    assert counts["exported"] == 3
    assert [p.id for p in pairs] == ["327726_1", "327726_2", "327726_3"]
    for turn, pair in zip((1, 2, 3), pairs):
        assert pair.instruction == f"let the cat wear hat {turn}"
        assert np.array_equal(load_mask(pair.mask), expected_mask(turn))
        # bytes are written unchanged: no re-encoding of the edited image
        with open(pair.edited, "rb") as handle:
            assert handle.read() == encoded(10 + turn)


@pytest.mark.parametrize("name,columns", [
    ("anyedit", {"image_file": "src", "edited_file": "edit", "edit_instruction": "text", "edit_type": "type"}),
    ("promptfix", {"input_img": "src", "processed_img": "edit", "instruction": "text", "task_id": "type"}),
    ("omniedit", {"src_img": "src", "edited_img": "edit", "edited_prompt_list": "list", "task": "type"}),
])
def test_unlabeled_editing_corpora(tmp_path, name, columns):
    types = ["remove", "color_alter", "style_change", "addition", "counting"]
    rows = []
    for i, task in enumerate(types):
        values = {"src": image_cell(encoded(i, "JPEG")), "edit": image_cell(encoded(i + 50, "JPEG")),
                  "text": f"instruction {i}", "list": [f"instruction {i}", "another phrasing"], "type": task}
        rows.append({column: values[role] for column, role in columns.items()} | {"width": 40, "height": 32})
    write_parquet(tmp_path / name / "data" / "train-00000-of-00002.parquet", rows[:3])
    write_parquet(tmp_path / name / "data" / "train-00001-of-00002.parquet", rows[3:])
    counts, pairs, _ = export(name, tmp_path / name, tmp_path)
    assert counts["exported"] == 5 and all(p.mask is None for p in pairs)
    assert [p.instruction for p in pairs] == [f"instruction {i}" for i in range(5)]
    assert [p.edit_type for p in pairs] == ["remove", "attribute change", "global", "add", None]
    assert all(p.edited.endswith(".jpg") for p in pairs)


def test_crispedit_columns_are_configurable(tmp_path):
    rows = [{"before": image_cell(encoded(1)), "after": image_cell(encoded(2)), "prompt": "remove the dog"}]
    write_parquet(tmp_path / "crisp" / "part-0.parquet", rows)
    with pytest.raises(BadInputError, match="no column.*--columns"):
        export("crispedit", tmp_path / "crisp", tmp_path)
    _, pairs, _ = export("crispedit", tmp_path / "crisp", tmp_path,
                         columns={"source": "before", "edited": "after", "instruction": "prompt"})
    assert pairs[0].instruction == "remove the dog"


def test_parquet_streams_by_row_group_and_splits_parts(tmp_path):
    rows = [{"image_file": image_cell(encoded(i)), "edited_file": image_cell(encoded(i + 9)),
             "edit_instruction": f"add {i}", "edit_type": "add"} for i in range(7)]
    write_parquet(tmp_path / "ae" / "a.parquet", rows, row_group_size=2)
    parts = [[s.id for s in open_corpus("anyedit", tmp_path / "ae", part=(rank, 2))] for rank in (0, 1)]
    assert sorted(parts[0] + parts[1]) == sorted(f"a-{i:06d}" for i in range(7))
    assert not set(parts[0]) & set(parts[1])


def test_opensdi_pairs_fake_rows_with_real_rows_by_key(tmp_path):
    rows = []
    for i in range(3):
        rows.append({"key": f"img{i}", "image": image_cell(encoded(i)), "mask": None, "label": 0})
        rows.append({"key": f"img{i}", "image": image_cell(encoded(i + 20)),
                     "mask": image_cell(mask_bytes(i)), "label": 1})
    write_parquet(tmp_path / "sdi" / "data" / "sd15-00000-of-00001.parquet", rows, row_group_size=3)
    _, pairs, _ = export("opensdi", tmp_path / "sdi", tmp_path)
    assert [p.id for p in pairs] == ["img0", "img1", "img2"]
    for i, pair in enumerate(pairs):
        assert pair.instruction == ""
        with open(pair.source, "rb") as handle:
            assert handle.read() == encoded(i)
        assert np.array_equal(load_mask(pair.mask), expected_mask(i))


def test_webdataset_shards(tmp_path):
    shard = tmp_path / "wds" / "shard-000000.tar"
    shard.parent.mkdir()
    with tarfile.open(shard, "w") as tar:
        for i in range(3):
            members = {f"{i:05d}.src.jpg": encoded(i, "JPEG"), f"{i:05d}.edited.jpg": encoded(i + 5, "JPEG"),
                       f"{i:05d}.json": json.dumps({"instruction": f"replace the cat with a dog {i}",
                                                   "task": "replace"}).encode()}
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    _, pairs, _ = export("anyedit", tmp_path / "wds", tmp_path, columns={
        "source": "src.jpg", "edited": "edited.jpg", "instruction": "instruction", "edit_type": "task"})
    assert [p.id for p in pairs] == ["00000", "00001", "00002"]
    assert pairs[2].instruction == "replace the cat with a dog 2" and pairs[2].edit_type == "replace"


# ---- folder layouts --------------------------------------------------------------------------

def write(path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_cocoglide_folders(tmp_path):
    root = tmp_path / "CocoGlide"
    for i in range(2):
        stem = f"glide_inpainting_val2017_{1000 + i}_up"
        write(root / "fake" / f"{stem}.png", encoded(i + 30))
        write(root / "real" / f"{stem}.png", encoded(i))
        write(root / "mask" / f"{stem}_mask.png", mask_bytes(i))
    _, pairs, _ = export("cocoglide", root, tmp_path)
    assert len(pairs) == 2 and pairs[0].source.endswith("real/glide_inpainting_val2017_1000_up.png")
    assert np.array_equal(load_mask(pairs[1].mask), expected_mask(1))


def test_autosplice_folders_with_captions(tmp_path):
    root = tmp_path / "AutoSplice"
    write(root / "Authentic" / "1234.jpg", encoded(1, "JPEG"))
    write(root / "Forged_JPEG100" / "1234_0.jpg", encoded(2, "JPEG"))
    write(root / "Forged_JPEG90" / "1234_0.jpg", encoded(3, "JPEG"))
    write(root / "Mask" / "1234_mask.png", mask_bytes(4))
    write(root / "Caption" / "1234.json", json.dumps({"prompt": "a red bus"}).encode())
    _, pairs, _ = export("autosplice", root, tmp_path)
    assert pairs[0].id == "1234_0" and pairs[0].instruction == "a red bus"
    assert np.array_equal(load_mask(pairs[0].mask), expected_mask(4))
    _, pairs90, _ = export("autosplice", root, tmp_path / "q90", layout={"edited_dir": "Forged_JPEG90"})
    assert pairs90[0].edited.endswith("Forged_JPEG90/1234_0.jpg")


def test_deal300k_folders_with_instruction_json(tmp_path):
    root = tmp_path / "DEAL-300K"
    write(root / "test" / "000000000009.jpg", encoded(1, "JPEG"))
    write(root / "test" / "000000000009_qwen120.jpg", encoded(2, "JPEG"))
    write(root / "label" / "test" / "000000000009_qwen120.png", mask_bytes(5, values=(0, 1)))  # 0/1 index mask
    write(root / "instructions" / "checkpoint-120_test_results.json",
          json.dumps([{"image_name": "000000000009.jpg", "generated_text": "add a cow"}]).encode())
    _, pairs, _ = export("deal300k", root, tmp_path)
    assert len(pairs) == 1  # the source beside the edit is not taken for an edited image
    assert pairs[0].instruction == "add a cow" and pairs[0].source.endswith("test/000000000009.jpg")
    assert np.array_equal(load_mask(pairs[0].mask), expected_mask(5))


def test_brgen_folders(tmp_path):
    root = tmp_path / "BR-Gen"
    write(root / "inpaint" / "a.png", encoded(1))
    write(root / "orig" / "a.png", encoded(2))
    write(root / "gt" / "a.png", mask_bytes(3))
    with pytest.raises(BadInputError, match="edited_dir"):
        export("brgen", root, tmp_path)
    _, pairs, _ = export("brgen", root, tmp_path,
                         layout={"edited_dir": "inpaint", "source_dir": "orig", "mask_dir": "gt"})
    assert np.array_equal(load_mask(pairs[0].mask), expected_mask(3))


# ---- bad input, resume, command line ---------------------------------------------------------

def cocoglide_root(tmp_path, n=3):
    root = tmp_path / "cg"
    for i in range(n):
        write(root / "fake" / f"x{i}.png", encoded(i + 30))
        write(root / "real" / f"x{i}.png", encoded(i))
        write(root / "mask" / f"x{i}.png", mask_bytes(i))
    return root


@pytest.mark.parametrize("damage,message", [
    (lambda root: (root / "fake" / "x1.png").write_bytes(b"not an image"), "x1.png: edited image: not a readable"),
    (lambda root: (root / "real" / "x1.png").unlink(), "x1.png: no source image"),
    (lambda root: write(root / "mask" / "x1.png", mask_bytes(1, size=(20, 16))), "mask is 20×16 but the edited"),
])
def test_bad_pairs_stop_with_one_message_and_no_manifest(tmp_path, capsys, damage, message):
    root = cocoglide_root(tmp_path)
    damage(root)
    out = tmp_path / "out"
    assert main(["corpus", "export", "cocoglide", "--root", str(root), "--out", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]
    assert not (out / "pairs.jsonl").exists()
    assert not (out / "masks" / "x1.png").exists()  # nothing of the bad pair was written
    # --skip-bad: the other pairs are exported, the bad one is logged
    assert main(["corpus", "export", "cocoglide", "--root", str(root), "--out", str(out), "--skip-bad"]) == 0
    assert [p.id for p in read_manifest(out / "pairs.jsonl")] == ["x0", "x2"]
    errors = [json.loads(line) for line in (out / "export_errors.jsonl").read_text().splitlines()]
    assert [e["id"] for e in errors] == ["x1"]


def test_export_resumes_exactly_once(tmp_path):
    root = cocoglide_root(tmp_path, n=5)
    out = tmp_path / "out"
    first = export_corpus("cocoglide", root, out, limit=2, progress=False)
    assert first["exported"] == 2
    second = export_corpus("cocoglide", root, out, progress=False)
    assert second["exported"] == 3 and second["duplicate_or_done"] == 2
    assert [p.id for p in read_manifest(out / "pairs.jsonl")] == [f"x{i}" for i in range(5)]


def test_unknown_corpus_and_column_role(tmp_path, capsys):
    assert main(["corpus", "export", "nosuch", "--root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "unknown corpus 'nosuch'" in capsys.readouterr().err
    with pytest.raises(BadInputError, match="unknown column role"):
        open_corpus("anyedit", tmp_path, columns={"colour": "x"})


def test_task_names_map_to_edit_types():
    assert edit_type_from_task("object_removal") == "remove"
    assert edit_type_from_task("snow_removal") == "global"
    assert edit_type_from_task("background_change") == "replace"
    assert edit_type_from_task("material_change") == "attribute change"
    assert edit_type_from_task("counting") is None and edit_type_from_task(None) is None


def test_registered_root_is_the_default(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IMDL_SIGMA_DATASETS", str(tmp_path / "datasets.json"))
    root = cocoglide_root(tmp_path, n=2)
    assert main(["corpus", "register", "cocoglide", str(root)]) == 0
    assert main(["corpus", "registered"]) == 0
    assert str(root) in capsys.readouterr().out
    assert main(["corpus", "export", "cocoglide", "--out", str(tmp_path / "o")]) == 0
    assert len(read_manifest(tmp_path / "o" / "pairs.jsonl")) == 2
