"""A corpus's own edit categories → the action ACSF fuses with (Eq. 8), where the corpus has a map.

The manifest keeps a corpus's category as free text (`edit_type`); this table only says which
categories name an action unambiguously. A category missing from its corpus's map, or a corpus
without a map, gives None: the action then comes from parsing the instruction. Never an error.
Keys are compared normalised: lower case, spaces and hyphens as "_" ("motion change" = motion_change).
"""

from __future__ import annotations

# The five actions of the instruction parser (grounding/rules.ACTIONS; data/ does not import grounding/).
ADD, REMOVE, ATTRIBUTE, REPLACE, GLOBAL = "add", "remove", "attribute change", "replace", "global"

CATEGORY_ACTIONS: dict[str, dict[str, str]] = {
    # AnyEdit `edit_type` values: the pipeline names of DCDmllm/AnyEdit (scripts/<type>.sh) and the
    # AnySD task book (background_change ... visual_sketch). Categories whose region the name does
    # not fix (counting, movement, resize, implicit_change, relation, visual_*) are left to the parse.
    "anyedit": {
        "add": ADD, "remove": REMOVE, "replace": REPLACE,
        "color_alter": ATTRIBUTE, "appearance_alter": ATTRIBUTE, "material_change": ATTRIBUTE,
        "action_change": ATTRIBUTE, "textual_change": ATTRIBUTE, "visual_material_transfer": ATTRIBUTE,
        "background_change": GLOBAL, "tone_transfer": GLOBAL, "style_change": GLOBAL,
        "rotation_change": GLOBAL, "outpaint": GLOBAL,
    },
    # OmniEdit-Filtered-1.2M `task` values (its dev split: swap, style, attribute_modification, env,
    # removal, addition).
    "omniedit": {
        "addition": ADD, "removal": REMOVE, "swap": REPLACE, "attribute_modification": ATTRIBUTE,
        "env": GLOBAL, "style": GLOBAL,
    },
    # CrispEdit-2M `type` values (add, remove, replace, color, motion change, background, style;
    # spelled with or without "change").
    "crispedit": {
        "add": ADD, "remove": REMOVE, "replace": REPLACE, "color": ATTRIBUTE, "color_change": ATTRIBUTE,
        "motion": ATTRIBUTE, "motion_change": ATTRIBUTE, "background": GLOBAL, "background_change": GLOBAL,
        "style": GLOBAL, "style_change": GLOBAL,
    },
    # PromptfixData `task_id`: the seven tasks its README lists. Restoration tasks redo the whole
    # image; a removal names what goes. Other spellings of task_id fall back to the parse.
    "promptfix": {
        "colorization": GLOBAL, "dehazing": GLOBAL, "deblurring": GLOBAL, "snow_removal": GLOBAL,
        "low_light_enhancement": GLOBAL, "object_removal": REMOVE, "watermark_removal": REMOVE,
    },
}


def normalise(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").replace("_", " ").split())


def category_action(corpus: str | None, category: str | None) -> str | None:
    """The action `category` names in `corpus`'s map, or None (unknown category or corpus)."""
    if not corpus or not category:
        return None
    table = CATEGORY_ACTIONS.get(normalise(corpus).replace("_", ""))
    return table.get(normalise(category)) if table else None
