"""Every corpus reader on a fixture that reproduces its release's layout (made here, tiny): the real
file and column names (spaces, BOM, `_up` suffixes, nested splits), parquet cell types as on the cards."""

import codecs
import csv
import io
import json
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from imdl_sigma.cli import main
from imdl_sigma.data.corpora import CORPORA, open_corpus
from imdl_sigma.data.corpora.export import export_corpus
from imdl_sigma.data.images import load_mask
from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.errors import BadInputError

SIZE = (40, 32)  # width, height
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])  # a `datasets` Image feature in parquet


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


def image_cell(data: bytes | None) -> dict | None:
    return None if data is None else {"bytes": data, "path": None}


def write_parquet(path, schema: list[tuple[str, pa.DataType]], rows: list[dict], row_group_size: int = 2) -> None:
    """A shard with the card's column types (images as {bytes, path} structs, ClassLabel as int64)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=pa.schema(schema))
    pq.write_table(table, path, row_group_size=row_group_size)


def export(name, root, tmp_path, **kwargs):
    out = tmp_path / f"{name}_out"
    counts = export_corpus(name, root, out, progress=False, **kwargs)
    return counts, read_manifest(out / "pairs.jsonl"), out


def read_bytes(path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def write(path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_every_reader_names_the_source_of_its_layout():
    assert len(CORPORA) == 11
    assert all(spec.source.strip() for spec in CORPORA.values())


# ---- parquet corpora -------------------------------------------------------------------------

MAGICBRUSH = [("img_id", pa.string()), ("turn_index", pa.int32()), ("source_img", IMAGE), ("mask_img", IMAGE),
              ("instruction", pa.string()), ("target_img", IMAGE)]


def test_magicbrush_parquet(tmp_path):
    rows = [{"img_id": "327726", "turn_index": turn, "source_img": image_cell(encoded(turn)),
             "mask_img": image_cell(mask_bytes(turn)), "instruction": f"let the cat wear hat {turn}",
             "target_img": image_cell(encoded(10 + turn))} for turn in (1, 2, 3)]
    write_parquet(tmp_path / "mb" / "data" / "dev-00000-of-00001.parquet", MAGICBRUSH, rows)
    counts, pairs, _ = export("magicbrush", tmp_path / "mb", tmp_path)
    assert counts["exported"] == 3
    assert [p.id for p in pairs] == ["327726_1", "327726_2", "327726_3"]
    for turn, pair in zip((1, 2, 3), pairs):
        assert pair.instruction == f"let the cat wear hat {turn}" and pair.edit_type is None
        assert np.array_equal(load_mask(pair.mask), expected_mask(turn))
        assert read_bytes(pair.edited) == encoded(10 + turn)  # bytes written unchanged: no re-encoding


ANYEDIT = [("image_file", IMAGE), ("edited_file", IMAGE), ("visual_input", IMAGE), ("edit_type", pa.string()),
           ("edit_instruction", pa.string()), ("input", pa.string()), ("output", pa.string())]


def test_anyedit_keeps_its_own_categories(tmp_path):
    categories = ["color_alter", "remove", "counting", "visual_sketch", "implicit_change"]
    rows = [{"image_file": image_cell(encoded(i, "JPEG")), "edited_file": image_cell(encoded(i + 50, "JPEG")),
             "visual_input": None, "edit_type": category, "edit_instruction": f"instruction {i}",
             "input": "a caption", "output": "an edited caption"} for i, category in enumerate(categories)]
    write_parquet(tmp_path / "ae" / "data" / "train-00000-of-00002.parquet", ANYEDIT, rows[:3])
    write_parquet(tmp_path / "ae" / "data" / "train-00001-of-00002.parquet", ANYEDIT, rows[3:])
    counts, pairs, _ = export("anyedit", tmp_path / "ae", tmp_path)
    assert counts["exported"] == 5 and all(p.mask is None for p in pairs)
    assert [p.instruction for p in pairs] == [f"instruction {i}" for i in range(5)]
    assert [p.edit_type for p in pairs] == categories and {p.corpus for p in pairs} == {"anyedit"}
    assert all(p.edited.endswith(".jpg") for p in pairs)


OMNIEDIT = [("omni_edit_id", pa.string()), ("task", pa.string()), ("src_img", IMAGE), ("edited_img", IMAGE),
            ("edited_prompt_list", pa.list_(pa.string())), ("width", pa.int64()), ("height", pa.int64()),
            ("sc_score_1", pa.int64()), ("sc_score_2", pa.int64()), ("pq_score", pa.int64()), ("o_score", pa.float64()),
            ("sc_reasoning", pa.string()), ("pq_reasoning", pa.string())]


def test_omniedit_ids_prompt_lists_and_tasks(tmp_path):
    tasks = ["addition", "removal", "swap", "attribute_modification", "env", "style"]
    rows = [{"omni_edit_id": f"task_{task}_{i}", "task": task, "src_img": image_cell(encoded(i)),
             "edited_img": image_cell(encoded(i + 20)), "edited_prompt_list": [f"prompt {i}", "another phrasing"],
             "width": SIZE[0], "height": SIZE[1], "sc_score_1": 9, "sc_score_2": 8, "pq_score": 8, "o_score": 8.5,
             "sc_reasoning": "", "pq_reasoning": ""} for i, task in enumerate(tasks)]
    write_parquet(tmp_path / "oe" / "data" / "dev-00000-of-00004.parquet", OMNIEDIT, rows, row_group_size=4)
    _, pairs, _ = export("omniedit", tmp_path / "oe", tmp_path)
    assert [p.id for p in pairs] == [f"task_{task}_{i}" for i, task in enumerate(tasks)]
    assert [p.instruction for p in pairs] == [f"prompt {i}" for i in range(6)]
    assert [p.edit_type for p in pairs] == tasks


PROMPTFIX = [("input_img", IMAGE), ("processed_img", IMAGE), ("instruction", pa.string()),
             ("auxiliary_prompt", pa.string()), ("task_id", pa.string())]


def test_promptfix_task_ids(tmp_path):
    rows = [{"input_img": image_cell(encoded(i)), "processed_img": image_cell(encoded(i + 5)),
             "instruction": "remove the snow", "auxiliary_prompt": "a snowy street", "task_id": "snow_removal"}
            for i in range(2)]
    write_parquet(tmp_path / "pf" / "data" / "train-00000-of-00830.parquet", PROMPTFIX, rows)
    _, pairs, _ = export("promptfix", tmp_path / "pf", tmp_path)
    assert [p.id for p in pairs] == ["train-00000-of-00830-000000", "train-00000-of-00830-000001"]
    assert {p.edit_type for p in pairs} == {"snow_removal"}


CRISPEDIT = [("input_img", IMAGE), ("output_img", IMAGE), ("instruction", pa.string()), ("type", pa.string())]


def test_crispedit_shards_named_by_type(tmp_path):
    for shard, kind in (("add_0.parquet", "add"), ("motion change_3.parquet", "motion change")):
        write_parquet(tmp_path / "crisp" / shard, CRISPEDIT, [{
            "input_img": image_cell(encoded(len(kind))), "output_img": image_cell(encoded(len(kind) + 1)),
            "instruction": f"{kind} something", "type": kind}])
    _, pairs, _ = export("crispedit", tmp_path / "crisp", tmp_path)
    assert [(p.id, p.edit_type) for p in pairs] == [("add_0-000000", "add"), ("motion change_3-000000", "motion change")]


def test_columns_can_be_remapped_for_reuploads(tmp_path):
    write_parquet(tmp_path / "crisp" / "part-0.parquet", [("before", IMAGE), ("after", IMAGE), ("prompt", pa.string())],
                  [{"before": image_cell(encoded(1)), "after": image_cell(encoded(2)), "prompt": "remove the dog"}])
    with pytest.raises(BadInputError, match="no column.*--columns"):
        export("crispedit", tmp_path / "crisp", tmp_path)
    _, pairs, _ = export("crispedit", tmp_path / "crisp", tmp_path, columns={
        "source": "before", "edited": "after", "instruction": "prompt", "edit_type": ""})
    assert pairs[0].instruction == "remove the dog" and pairs[0].edit_type is None


ULTRAEDIT = [(name, pa.float64()) for name in ("clip_sim_source", "clip_sim_target", "clip_sim_dir", "clip_sim_image",
                                                "dinov2_sim", "ssim")] + [
    ("source_caption", pa.string()), ("target_caption", pa.string()), ("idx", pa.int64()), ("edit_prompt", pa.string()),
    ("edit_object", pa.string()), ("source_image", IMAGE), ("edited_image", IMAGE), ("mask_image", IMAGE)]


def test_ultraedit_region_based(tmp_path):
    rows = [{"clip_sim_source": 0.3, "clip_sim_target": 0.3, "clip_sim_dir": 0.2, "clip_sim_image": 0.9,
             "dinov2_sim": 0.8, "ssim": 0.7, "source_caption": "cows", "target_caption": "flamingos", "idx": 1000 + i,
             "edit_prompt": "Replace the cows with flamingos", "edit_object": "cows",
             "source_image": image_cell(encoded(i)), "edited_image": image_cell(encoded(i + 9)),
             "mask_image": image_cell(mask_bytes(i))} for i in range(3)]
    write_parquet(tmp_path / "ue" / "data" / "RegionBase-00000-of-00093.parquet", ULTRAEDIT, rows)
    _, pairs, _ = export("ultraedit", tmp_path / "ue", tmp_path)
    assert [p.id for p in pairs] == ["1000", "1001", "1002"]
    assert np.array_equal(load_mask(pairs[2].mask), expected_mask(2))


def test_parquet_streams_by_row_group_and_splits_parts(tmp_path):
    rows = [{"image_file": image_cell(encoded(i)), "edited_file": image_cell(encoded(i + 9)), "visual_input": None,
             "edit_type": "add", "edit_instruction": f"add {i}", "input": "", "output": ""} for i in range(7)]
    write_parquet(tmp_path / "ae" / "a.parquet", ANYEDIT, rows, row_group_size=2)
    parts = [[s.id for s in open_corpus("anyedit", tmp_path / "ae", part=(rank, 2))] for rank in (0, 1)]
    assert sorted(parts[0] + parts[1]) == sorted(f"a-{i:06d}" for i in range(7))
    assert not set(parts[0]) & set(parts[1])


OPENSDI = [("key", pa.string()), ("image", IMAGE), ("mask", IMAGE), ("label", pa.int64())]


def test_opensdi_pairs_partial_fakes_with_the_real_row_of_the_same_image(tmp_path):
    names = ["000651821", "000143605", "003719600"]
    rows = [{"key": f"partial/sd15/fake/{name}.jpg", "image": image_cell(encoded(i + 20)),
             "mask": image_cell(mask_bytes(i)), "label": 1} for i, name in enumerate(names)]
    rows += [{"key": f"entire/sd15/fake/00000000{i}.jpg", "image": image_cell(encoded(40 + i)), "mask": None,
              "label": 1} for i in range(2)]  # whole-image fakes: no source, not pairs
    rows += [{"key": f"real/sd15/real/{name}.jpg", "image": image_cell(encoded(i)), "mask": None, "label": 0}
             for i, name in enumerate(names[:2])]  # the third fake has no real row
    write_parquet(tmp_path / "sdi" / "data" / "sd15-00000-of-00019.parquet", OPENSDI, rows, row_group_size=3)
    samples = list(open_corpus("opensdi", tmp_path / "sdi"))
    assert [s.id for s in samples] == [f"partial/sd15/fake/{name}.jpg" for name in names]
    assert samples[2].error and "003719600" in samples[2].error
    counts, pairs, out = export("opensdi", tmp_path / "sdi", tmp_path, skip_bad=True)
    assert counts["exported"] == 2 and counts["bad"] == 1
    for i, pair in enumerate(pairs):
        assert pair.instruction == "" and pair.edit_type == "partial"
        assert read_bytes(pair.source) == encoded(i) and read_bytes(pair.edited) == encoded(i + 20)
        assert np.array_equal(load_mask(pair.mask), expected_mask(i))


def test_webdataset_shards(tmp_path):
    shard = tmp_path / "wds" / "shard-000000.tar"
    shard.parent.mkdir()
    with tarfile.open(shard, "w") as tar:
        for i in range(3):
            members = {f"{i:05d}.src.jpg": encoded(i, "JPEG"), f"{i:05d}.edited.jpg": encoded(i + 5, "JPEG"),
                       f"{i:05d}.json": json.dumps({"instruction": f"replace the cat with a dog {i}",
                                                   "task": "swap"}).encode()}
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    _, pairs, _ = export("omniedit", tmp_path / "wds", tmp_path, columns={
        "source": "src.jpg", "edited": "edited.jpg", "instruction": "instruction", "edit_type": "task", "id": ""})
    assert [p.id for p in pairs] == ["00000", "00001", "00002"]
    assert pairs[2].instruction == "replace the cat with a dog 2" and pairs[2].edit_type == "swap"


# ---- CoCoGlide: pairs listed by table.csv ----------------------------------------------------

COCO_CLASSES = ["dining table", "teddy bear", "cell phone", "dog", "hot dog", "traffic light", "person", "bus"]


def cocoglide_release(root, n: int, size=SIZE, bare_names: bool = False) -> list[dict]:
    """TruFor's CocoGlide.zip: README.txt, licenses.json, a BOM-prefixed table.csv, real/ fake/ mask/."""
    rows = []
    for i in range(n):
        coco_id = 100000 + 37 * i
        name = f"{COCO_CLASSES[i % len(COCO_CLASSES)]}_{coco_id}"
        files = {"real": f"real/{name}.png", "fake": f"fake/glide_inpainting_val2017_{coco_id}_up.png",
                 "mask": f"mask/{name}_mask.png"}
        write(root / files["real"], encoded(i, size=size))
        write(root / files["fake"], encoded(1000 + i, size=size))
        write(root / files["mask"], mask_bytes(i, size=size))
        cells = {k: v.split("/", 1)[1] for k, v in files.items()} if bare_names else files
        rows.append(cells | {"prompt": COCO_CLASSES[i % len(COCO_CLASSES)]})
    rows.reverse()  # the table's order, not the file names, defines the pairs
    with open(root / "table.csv", "w", encoding="utf-8", newline="") as handle:
        handle.write(codecs.BOM_UTF8.decode("utf-8"))
        writer = csv.DictWriter(handle, fieldnames=["real", "fake", "mask", "prompt"])
        writer.writeheader()
        writer.writerows(rows)
    write(root / "README.txt", b"CocoGlide: 512 images inpainted by GLIDE\n")
    write(root / "licenses.json", b"{}")
    return rows


@pytest.mark.parametrize("bare_names", [False, True])
def test_cocoglide_pairs_by_table_with_prompts(tmp_path, bare_names):
    root = tmp_path / "CocoGlide"
    rows = cocoglide_release(root, 6, bare_names=bare_names)
    _, pairs, _ = export("cocoglide", root, tmp_path)
    assert len(pairs) == 6
    by_id = {p.id: p for p in pairs}
    for i in range(6):
        coco_id = 100000 + 37 * i
        pair = by_id[f"glide_inpainting_val2017_{coco_id}_up"]
        assert pair.source.endswith(f"real/{COCO_CLASSES[i]}_{coco_id}.png")  # spaces kept
        assert pair.instruction == COCO_CLASSES[i]
        assert np.array_equal(load_mask(pair.mask), expected_mask(i))
    assert [p.instruction for p in pairs] == [row["prompt"] for row in rows]


def test_cocoglide_release_exports_512_pairs_from_the_command_line(tmp_path, capsys):
    root = tmp_path / "CocoGlide"
    cocoglide_release(root, 512, size=(12, 10))
    out = tmp_path / "out"
    assert main(["corpus", "export", "cocoglide", "--root", str(root), "--out", str(out)]) == 0
    pairs = read_manifest(out / "pairs.jsonl")
    assert len(pairs) == len({p.id for p in pairs}) == 512
    assert all(p.mask and p.instruction in COCO_CLASSES for p in pairs)
    assert '"exported": 512' in capsys.readouterr().out


def test_cocoglide_without_its_table_says_so(tmp_path, capsys):
    root = tmp_path / "CocoGlide"
    cocoglide_release(root, 2)
    (root / "table.csv").unlink()
    assert main(["corpus", "export", "cocoglide", "--root", str(root), "--out", str(tmp_path / "o")]) == 2
    assert "table.csv" in capsys.readouterr().err


# ---- folder layouts --------------------------------------------------------------------------

def test_brgen_tp_gt_au(tmp_path):
    root = tmp_path / "BRGen-Stuff-Val"
    for i, (stem, source) in enumerate([("MAT_Stuff_COCO_00000000520", "COCO_00000000520"),
                                        ("PowerPaint_Background_ImageNet_n06359193_84719",
                                         "ImageNet_n06359193_84719")]):
        write(root / "Au" / f"{source}.png", encoded(i))
        write(root / "Tp" / f"{stem}.png", encoded(i + 10))
        write(root / "Gt" / f"{stem}_mask.png", mask_bytes(i))
    _, pairs, _ = export("brgen", root, tmp_path)
    assert [p.id for p in pairs] == ["MAT_Stuff_COCO_00000000520", "PowerPaint_Background_ImageNet_n06359193_84719"]
    assert [p.edit_type for p in pairs] == ["Stuff", "Background"]
    assert pairs[1].source.endswith("Au/ImageNet_n06359193_84719.png")
    assert np.array_equal(load_mask(pairs[1].mask), expected_mask(1))


def test_autosplice_captions_paired_by_their_id(tmp_path):
    root = tmp_path / "AutoSplice"
    write(root / "Authentic" / "71695.jpg", encoded(1, "JPEG"))
    for k in range(2):
        write(root / "Forged_JPEG100" / f"71695_{k}.jpg", encoded(2 + k, "JPEG"))
        write(root / "Forged_JPEG90" / f"71695_{k}.jpg", encoded(4 + k, "JPEG"))
    write(root / "Mask" / "71695_mask.png", mask_bytes(4))
    write(root / "Caption" / "71695.json", json.dumps({
        "id": 71695, "ori_caption": "A bus parked on a street.", "oriCaptionTerm": "bus",
        "userInputTerm": "red double-decker bus"}).encode())
    _, pairs, _ = export("autosplice", root, tmp_path)
    assert [p.id for p in pairs] == ["71695_0", "71695_1"]
    assert pairs[0].instruction == "replace the bus with red double-decker bus"
    assert pairs[1].source.endswith("Authentic/71695.jpg")
    assert np.array_equal(load_mask(pairs[0].mask), expected_mask(4))
    _, pairs90, _ = export("autosplice", root, tmp_path / "q90", layout={"edited_dir": "Forged_JPEG90"})
    assert pairs90[0].edited.endswith("Forged_JPEG90/71695_0.jpg")


def test_deal300k_folders_with_the_repository_instructions(tmp_path):
    root = tmp_path / "DEAL-300K"
    write(root / "test" / "000000000139.jpg", encoded(1, "JPEG"))
    write(root / "test" / "000000000139_qwen120.jpg", encoded(2, "JPEG"))
    write(root / "label" / "test" / "000000000139_qwen120.png", mask_bytes(5))
    write(root / "instructions" / "checkpoint-120_dev_results.json", json.dumps(
        [{"image_name": "000000000139.jpg", "generated_text": "let the floor be made of marble"}]).encode())
    _, pairs, _ = export("deal300k", root, tmp_path)
    assert len(pairs) == 1  # the source beside the edit is not taken for an edited image
    assert pairs[0].instruction == "let the floor be made of marble"
    assert pairs[0].source.endswith("test/000000000139.jpg")
    assert np.array_equal(load_mask(pairs[0].mask), expected_mask(5))


# ---- bad input, resume, command line ---------------------------------------------------------

@pytest.mark.parametrize("damage,message", [
    (lambda root: write(root / "fake" / "glide_inpainting_val2017_100037_up.png", b"not an image"),
     "edited image: not a readable"),
    (lambda root: (root / "real" / "teddy bear_100037.png").unlink(), "not found: real/teddy bear_100037.png"),
    (lambda root: write(root / "mask" / "teddy bear_100037_mask.png", mask_bytes(1, size=(20, 16))),
     "mask is 20×16 but the edited"),
])
def test_bad_pairs_stop_with_one_message_and_no_manifest(tmp_path, capsys, damage, message):
    root = tmp_path / "cg"
    cocoglide_release(root, 3)
    damage(root)
    out = tmp_path / "out"
    assert main(["corpus", "export", "cocoglide", "--root", str(root), "--out", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]
    assert not (out / "pairs.jsonl").exists()
    assert not (out / "masks" / "glide_inpainting_val2017_100037_up.png").exists()  # nothing of the bad pair
    # --skip-bad: the other pairs are exported, the bad one is logged
    assert main(["corpus", "export", "cocoglide", "--root", str(root), "--out", str(out), "--skip-bad"]) == 0
    assert len(read_manifest(out / "pairs.jsonl")) == 2
    errors = [json.loads(line) for line in (out / "export_errors.jsonl").read_text().splitlines()]
    assert [e["id"] for e in errors] == ["glide_inpainting_val2017_100037_up"]


def test_export_resumes_exactly_once(tmp_path):
    root = tmp_path / "cg"
    cocoglide_release(root, 5)
    out = tmp_path / "out"
    first = export_corpus("cocoglide", root, out, limit=2, progress=False)
    assert first["exported"] == 2
    second = export_corpus("cocoglide", root, out, progress=False)
    assert second["exported"] == 3 and second["duplicate_or_done"] == 2
    assert len({p.id for p in read_manifest(out / "pairs.jsonl")}) == 5


def test_unknown_corpus_column_role_and_layout_field(tmp_path, capsys):
    assert main(["corpus", "export", "nosuch", "--root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "unknown corpus 'nosuch'" in capsys.readouterr().err
    with pytest.raises(BadInputError, match="unknown column role"):
        open_corpus("anyedit", tmp_path, columns={"colour": "x"})
    with pytest.raises(BadInputError, match="unknown layout field"):
        open_corpus("cocoglide", tmp_path, layout={"folder": "x"})


def test_registered_root_is_the_default(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IMDL_SIGMA_DATASETS", str(tmp_path / "datasets.json"))
    root = tmp_path / "cg"
    cocoglide_release(root, 2)
    assert main(["corpus", "register", "cocoglide", str(root)]) == 0
    assert main(["corpus", "registered"]) == 0
    assert str(root) in capsys.readouterr().out
    assert main(["corpus", "export", "cocoglide", "--out", str(tmp_path / "o")]) == 0
    assert len(read_manifest(tmp_path / "o" / "pairs.jsonl")) == 2
