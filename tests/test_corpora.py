"""Every row-shaped corpus reader (parquet, WebDataset) on a fixture that reproduces its release:
the card's column names and cell types ({bytes, path} image structs, int32 / int64 ids, lists)."""

import io
import json
import tarfile

import numpy as np
import pyarrow as pa
import pytest

from corpus_files import (IMAGE, SIZE, encoded, expected_mask, export, image_cell, mask_bytes, read_bytes,
                          write_parquet)
from imdl_sigma.data.corpora import CORPORA, open_corpus
from imdl_sigma.data.images import load_mask
from imdl_sigma.errors import BadInputError


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
