"""Folder- and table-shaped evaluation sets on fixtures that reproduce each release's names exactly
(CocoGlide's BOM-prefixed table.csv and class names with spaces, BR-Gen's Tp/Gt/Au, AutoSplice's
captions, DEAL-300K's instruction JSONs), plus bad input, resume and the command line."""

import codecs
import csv
import json

import numpy as np
import pytest

from corpus_files import SIZE, encoded, expected_mask, export, mask_bytes, write
from imdl_sigma.cli import main
from imdl_sigma.data.corpora import open_corpus
from imdl_sigma.data.corpora.export import export_corpus
from imdl_sigma.data.images import load_mask
from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.errors import BadInputError


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


@pytest.mark.parametrize("damage,message", [
    (lambda table: table.unlink(), "pairing table not found"),
    (lambda table: table.write_text("real,fake,mask,prompt\n"), "has no rows"),
    (lambda table: table.write_text("source,edited\nreal/a.png,fake/b.png\n"), "no column(s) real, fake, mask"),
])
def test_cocoglide_table_problems_are_one_line(tmp_path, capsys, damage, message):
    root = tmp_path / "CocoGlide"
    cocoglide_release(root, 2)
    damage(root / "table.csv")
    assert main(["corpus", "export", "cocoglide", "--root", str(root), "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


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
