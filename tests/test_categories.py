"""A corpus's own edit categories: free text in the manifest, counted in stats.json, mapped to the
ACSF action only where the corpus has a map; an unknown category is never an error."""

import json

import torch


import imdl_sigma.annotation.annotate as annotate_module
from imdl_sigma.cli import main
from imdl_sigma.config import SigmaConfig
from imdl_sigma.data.corpora import CORPORA
from imdl_sigma.data.corpora.categories import CATEGORY_ACTIONS, category_action
from imdl_sigma.data.manifest import Pair, read_manifest, write_manifest
from imdl_sigma.grounding.acsf import fusion_action, with_corpus_actions
from imdl_sigma.grounding.rules import ACTIONS, parse_rules
from imdl_sigma.model import SigmaNet
from imdl_sigma.model.checkpoint import save_checkpoint


def test_category_maps_name_known_corpora_and_actions():
    assert set(CATEGORY_ACTIONS) <= set(CORPORA)
    assert {action for table in CATEGORY_ACTIONS.values() for action in table.values()} <= set(ACTIONS)


def test_categories_map_where_the_corpus_has_a_map():
    assert category_action("anyedit", "color_alter") == "attribute change"
    assert category_action("AnyEdit", "Background-Change") == "global"  # names compared normalised
    assert category_action("omniedit", "swap") == "replace"
    assert category_action("crispedit", "motion change") == "attribute change"
    assert category_action("promptfix", "snow_removal") == "global"
    assert category_action("promptfix", "object removal") == "remove"
    # unknown categories, corpora without a map, no category: the parse decides
    assert category_action("anyedit", "counting") is None
    assert category_action("anyedit", "recolor") is None
    assert category_action("magicbrush", "remove") is None
    assert category_action(None, "remove") is None and category_action("anyedit", None) is None


def test_fusion_action_prefers_a_mapped_category():
    assert fusion_action("add", "attribute change") == "attribute change"
    assert fusion_action("add", None) == "add"
    parses = [parse_rules("add a hat") for _ in range(3)]
    pairs = [Pair("a", "s", "e", edit_type="color_alter", corpus="anyedit"),
             Pair("b", "s", "e", edit_type="recolor", corpus="anyedit"), Pair("c", "s", "e")]
    assert [p["action"] for p in with_corpus_actions(parses, pairs)] == ["attribute change", "add", "add"]
    assert all(p["action"] == "add" for p in parses)  # the parses themselves (cached) are not changed


def test_manifest_edit_type_is_free_text(tmp_path):
    for name in ("s.png", "e.png"):
        (tmp_path / name).write_bytes(b"")
    lines = [{"id": str(i), "source": "s.png", "edited": "e.png", "edit_type": category}
             for i, category in enumerate(["recolor", "zero-edit", "background_change", 3, None, ""])]
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    pairs = read_manifest(tmp_path / "pairs.jsonl")
    assert [p.edit_type for p in pairs] == ["recolor", "zero-edit", "background_change", "3", None, None]


def test_annotate_counts_corpus_categories_and_fuses_mapped_actions(synth_pairs, tmp_path, monkeypatch):
    torch.manual_seed(0)
    config = SigmaConfig.preset("tiny")
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(checkpoint, SigmaNet(config), config, stage=0)
    source = read_manifest(synth_pairs)[:4]
    rows = [("recolor", "magicbrush", "make the car red"), ("texture", None, "make the wall brick"),
            ("zero-edit", "promptfix", "do nothing"), ("color_alter", "anyedit", "add a hat")]
    pairs = [Pair(f"p{i}", p.source, p.edited, instruction, edit_type=category, corpus=corpus)
             for i, (p, (category, corpus, instruction)) in enumerate(zip(source, rows))]
    write_manifest(tmp_path / "pairs.jsonl", pairs)

    seen_actions = []  # the parses ACSF receives (the grounder's input)
    original = annotate_module.resolve_intent_maps

    def spy(parses, *args, **kwargs):
        seen_actions.extend(p["action"] for p in parses)
        return original(parses, *args, **kwargs)

    monkeypatch.setattr(annotate_module, "resolve_intent_maps", spy)
    out = tmp_path / "ann"
    assert main(["annotate", "--pairs", str(tmp_path / "pairs.jsonl"), "--out", str(out), "--checkpoint",
                 str(checkpoint), "--min-area", "0", "--max-area", "1", "--max-aspect-change", "10"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["pairs"] == stats["kept"] == 4 and stats["errors"] == 0
    assert stats["per_edit_type"] == {"recolor": 1, "texture": 1, "zero-edit": 1, "color_alter": 1}
    parsed = [parse_rules(instruction)["action"] for _, _, instruction in rows]
    expected = parsed[:3] + ["attribute change"]  # AnyEdit's color_alter overrides the parse's "add"
    assert parsed[3] == "add" and seen_actions == expected
    records = {r["id"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}
    assert [records[f"p{i}"]["action"] for i in range(4)] == expected
    assert [records[f"p{i}"]["edit_type"] for i in range(4)] == [category for category, _, _ in rows]
    assert records["p3"]["parse"]["action"] == "add"  # the parse itself is kept as provenance
    assert sum(stats["per_action"].values()) == 4
