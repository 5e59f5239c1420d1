"""Full-size random grounding weights in the published formats, for memory and speed runs offline.

- GroundingDINO-T as `IDEA-Research/grounding-dino-tiny` publishes it: a transformers folder
  (`config.json`, `model.safetensors`, `preprocessor_config.json`, tokenizer files) written by
  `GroundingDinoForObjectDetection(GroundingDinoConfig())` (the config defaults are Tiny:
  Swin-T, BERT-base text encoder, 900 queries) and a `GroundingDinoProcessor` (shorter side 800,
  longer at most 1333; an uncased BERT WordPiece tokenizer of 30,522 tokens whose special
  tokens, "." and "?" sit at BERT's ids, which GroundingDINO reads to split the prompt).
- SAM 2.1-S as `sam2.1_hiera_small.pt`: `{"model": state_dict}` of `build_sam2` with the
  package's `configs/sam2.1/sam2.1_hiera_s.yaml`.

    python -m benchmarks.grounding_weights --out DIR   # DIR/grounding-dino-tiny, DIR/sam2.1_hiera_small.pt
"""

from __future__ import annotations

import argparse
import string
from pathlib import Path

import torch

BERT_VOCAB_SIZE = 30522
BERT_FIRST_CHAR_ID = 999  # "!" in bert-base-uncased; printable ASCII follows in order ("." 1012, "?" 1029)


def bert_like_vocab() -> list[str]:
    """An uncased WordPiece vocabulary laid out like bert-base-uncased's first 1,100 entries."""
    specials = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}
    unused = iter(range(BERT_VOCAB_SIZE))
    vocab = [specials.get(i) or f"[unused{next(unused)}]" for i in range(BERT_FIRST_CHAR_ID)]
    vocab += [chr(code) for code in range(ord("!"), ord("~") + 1) if not chr(code).isupper()]
    vocab += [f"##{c}" for c in string.ascii_lowercase + string.digits]
    vocab += [f"[unused{next(unused)}]" for _ in range(BERT_VOCAB_SIZE - len(vocab))]
    return vocab


def save_grounding_dino(folder: Path) -> None:
    from transformers import (BertTokenizerFast, GroundingDinoConfig, GroundingDinoForObjectDetection,
                              GroundingDinoImageProcessor, GroundingDinoProcessor)

    folder.mkdir(parents=True, exist_ok=True)
    vocab = bert_like_vocab()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(str(folder / "vocab.txt"), do_lower_case=True)
    assert tokenizer.convert_tokens_to_ids([".", "?", "[CLS]", "[SEP]"]) == [1012, 1029, 101, 102]
    GroundingDinoProcessor(GroundingDinoImageProcessor(), tokenizer).save_pretrained(folder)
    GroundingDinoForObjectDetection(GroundingDinoConfig()).save_pretrained(folder)


def save_sam21_small(path: Path) -> None:
    from sam2.build_sam import build_sam2

    model = build_sam2("configs/sam2.1/sam2.1_hiera_s.yaml", None, device="cpu")
    torch.save({"model": model.state_dict()}, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    torch.manual_seed(args.seed)
    save_grounding_dino(out / "grounding-dino-tiny")
    save_sam21_small(out / "sam2.1_hiera_small.pt")
    print(f"wrote {out / 'grounding-dino-tiny'} and {out / 'sam2.1_hiera_small.pt'}")


if __name__ == "__main__":
    main()
