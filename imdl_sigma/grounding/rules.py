"""Rule-based Semantic Transformation Parser: instruction → (original, edited, action).

The offline default, and the fallback of the LLM parser (the paper's STP, Sec. 3.2.2); `ACTIONS` is the parsers'
(and ACSF's) vocabulary. Output keys match
`benco parse`: {"original", "edited", "action", "source"}; an absent concept is None.
"""

from __future__ import annotations

import re

ACTIONS = ("add", "remove", "attribute change", "replace", "global")

DETERMINERS = {
    "the", "a", "an", "this", "that", "these", "those", "some", "its", "his", "her", "their",
    "my", "your", "our", "any", "all",
}
INTENSITY = {"bright", "vivid", "vibrant", "nice", "beautiful", "new", "different"}
COLOURS = {
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "black", "white", "grey", "gray",
    "brown", "cyan", "magenta", "violet", "golden", "gold", "silver", "beige", "turquoise", "navy",
    "teal", "maroon", "crimson", "lavender",
}
MATERIALS = {
    "wood", "wooden", "marble", "stone", "metal", "metallic", "glass", "brick", "concrete", "plastic",
    "fabric", "leather", "paper", "ice", "sand", "steel", "copper", "bronze", "velvet", "denim",
    "gravel", "grass", "granite", "ceramic", "rubber",
}
# Words that describe an attribute rather than name a new object.
ATTRIBUTE_WORDS = COLOURS | MATERIALS | {
    "bigger", "smaller", "larger", "taller", "shorter", "longer", "wider", "older", "younger",
    "happy", "sad", "angry", "smiling", "smile", "frowning", "open", "closed", "shiny", "matte",
    "striped", "spotted", "dotted", "checkered", "transparent", "rusty", "wet", "dry", "dirty",
    "clean", "broken", "fluffy", "curly", "straight", "bald", "light", "dark", "pale", "colorful",
    "colourful", "laughing", "crying", "sleeping", "running", "standing", "sitting", "furry",
}
# Whole-image targets and vocabulary (style, weather, season, lighting, time of day, quality).
WHOLE_IMAGE = {
    "it", "this", "everything", "image", "photo", "photograph", "picture", "scene", "whole image",
    "entire image", "whole picture", "whole scene", "entire scene", "overall image", "atmosphere",
    "mood", "style", "weather", "season", "lighting", "light", "time of day", "sky and everything",
}
GLOBAL_WORDS = {
    "snow", "snowy", "rain", "rainy", "fog", "foggy", "haze", "hazy", "mist", "misty", "storm",
    "stormy", "cloudy", "sunny", "winter", "summer", "autumn", "fall", "spring", "night", "nighttime",
    "sunset", "sunrise", "dawn", "dusk", "morning", "evening", "daytime", "noon", "dramatic",
    "vintage", "retro", "sepia", "monochrome", "cartoon", "anime", "painting", "watercolor",
    "watercolour", "sketch", "oil", "cyberpunk", "impressionist", "style", "brighter", "darker",
    "warmer", "cooler", "lighting", "noise", "blur", "blurry", "sharper", "sharp", "contrast",
    "saturation", "exposure", "brightness", "low-light", "pixel", "pixelated", "surreal",
    "cinematic", "filter", "tone", "black and white", "grayscale", "greyscale",
}
GLOBAL_VERBS = (
    "enhance", "brighten", "darken", "colorize", "colourize", "sharpen", "deblur", "denoise",
    "dehaze", "restore", "upscale", "stylize", "stylise", "apply", "increase", "decrease", "reduce",
    "boost", "adjust", "improve", "lighten", "saturate", "desaturate", "render", "repaint",
)
# "let the man smile" → "smiling man"
VERB_STATES = {"smile": "smiling", "laugh": "laughing", "cry": "crying", "sleep": "sleeping",
               "run": "running", "frown": "frowning", "sit": "sitting", "stand": "standing"}
NUMBER_WORDS = {"one", "two", "three", "four", "five", "six", "several", "many", "few", "some", "a", "an"}
PREPOSITIONS = (
    "on", "in", "at", "from", "to", "into", "onto", "near", "next", "behind", "under", "above",
    "below", "beside", "between", "inside", "over", "across", "along", "around", "atop", "off",
    "out", "outside", "beneath", "within", "against",
)
ADD_VERBS = r"add|put|place|insert|include|draw|paint in|introduce|attach|plant|hang"
REMOVE_VERBS = r"remove|delete|erase|eliminate|take away|take out|get rid of|clear away|clear|cut out|wipe out|wipe away|drop|hide"
CHANGE_VERBS = r"change|turn|make|transform|convert|switch|alter|modify|recolou?r|paint|colou?r|dye"


def _clean(text: str) -> str:
    text = text.strip().strip("\"'“”‘’").strip()
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"^(please|can you|could you|would you|kindly|now|then|just|let's|lets)\s+", "", text, flags=re.I)
    text = re.sub(r"^(please|can you|could you|would you|kindly|now|then|just)\s+", "", text, flags=re.I)
    return text.rstrip(" .!?;,").strip()


def _words(phrase: str) -> list[str]:
    return re.findall(r"[\w'-]+", phrase.lower())


def noun_phrase(phrase: str, strip_location: bool = True) -> str:
    """Drop determiners, possessive owners, intensity words and (optionally) trailing locations."""
    words = _words(phrase)
    if strip_location:
        for i, word in enumerate(words):
            if i > 0 and word in PREPOSITIONS:
                words = words[:i]
                break
    # "the boy's grey t-shirt" → "grey t-shirt": drop everything up to a possessive owner.
    for i, word in enumerate(words[:-1]):
        if word.endswith("'s") or word.endswith("s'"):
            words = words[i + 1:]
            break
    while words and words[0] in DETERMINERS:
        words = words[1:]
    words = [w for w in words if w not in INTENSITY] or words
    return " ".join(words)


def with_article(phrase: str) -> str:
    """'cat' → 'a cat'; plurals and counted phrases keep their form."""
    words = phrase.split()
    if not words:
        return phrase
    if words[0] in NUMBER_WORDS or (words[-1].endswith("s") and not words[-1].endswith("ss")):
        return phrase
    article = "an" if words[0][0] in "aeiou" else "a"
    return f"{article} {phrase}"


def head(phrase: str) -> str:
    words = phrase.split()
    return words[-1] if words else ""


def is_whole_image(phrase: str) -> bool:
    return noun_phrase(phrase, strip_location=False) in WHOLE_IMAGE or not noun_phrase(phrase)


def mentions_global(text: str) -> bool:
    lowered = text.lower()
    words = set(_words(lowered))
    return bool(words & GLOBAL_WORDS) or any(w in lowered for w in GLOBAL_WORDS if " " in w)


def is_attribute(phrase: str) -> bool:
    words = _words(phrase)
    return bool(words) and all(w in ATTRIBUTE_WORDS or w in INTENSITY or w in {"more", "less", "and", "very", "colored", "coloured", "color", "colour"} for w in words)


def result(original: str | None, edited: str | None, action: str) -> dict:
    return {"original": original or None, "edited": edited or None, "action": action, "source": "rules"}


GLOBAL = result(None, None, "global")


def material_texture(phrase: str) -> str:
    return f"{phrase} texture" if phrase in MATERIALS else phrase


def classify_change(original_phrase: str, target_phrase: str, target_is_noun: bool = False) -> dict:
    """X → Y: attribute change when Y keeps X's identity (same head, or only attributes), else replace.

    `target_is_noun`: Y followed an article ("make the apple an orange"), so it names an object.
    """
    original = noun_phrase(original_phrase)
    target = noun_phrase(target_phrase, strip_location=False)
    if not original or is_whole_image(original_phrase):
        return GLOBAL
    if original in MATERIALS and target in MATERIALS:
        return result(material_texture(original), material_texture(target), "replace")
    if is_attribute(target) and not target_is_noun:
        attribute = " ".join(w for w in _words(target) if w not in {"more", "very", "colored", "coloured", "color", "colour"})
        return result(original, f"{attribute} {head(original)}", "attribute change")
    if head(target) == head(original):
        return result(original, target, "attribute change")
    return result(original, target, "replace")


PATTERNS: list[tuple[re.Pattern, callable]] = []


def rule(pattern: str):
    def register(handler):
        PATTERNS.append((re.compile(pattern, re.I), handler))
        return handler

    return register


@rule(rf"^(?:{GLOBAL_VERBS[0]}|{'|'.join(GLOBAL_VERBS[1:])})\b(.*)$")
def _global_verb(match):
    return GLOBAL


@rule(r"^(?:replace|swap|exchange)\s+(.+?)\s+(?:with|for|by)\s+(.+)$")
def _replace(match):
    return classify_change(match.group(1), match.group(2))


@rule(r"^substitute\s+(.+?)\s+for\s+(.+)$")
def _substitute(match):
    return classify_change(match.group(2), match.group(1))


@rule(r"^(?:change|alter|modify|switch)\s+the\s+(?:colou?r|hue|shade|material|texture)\s+of\s+(.+?)\s+(?:to|into|in)\s+(.+)$")
def _attribute_of(match):
    """"change the colour / material of X to Y" → attribute change X → "Y X"."""
    original = noun_phrase(match.group(1))
    return result(original, f"{noun_phrase(match.group(2))} {head(original)}", "attribute change")


@rule(r"^(?:recolou?r|paint|colou?r|dye|tint)\s+(.+?)\s+(?:in\s+|to\s+|with\s+)?((?:(?:light|dark|bright|pale|deep)\s+)?(?:" + "|".join(sorted(COLOURS)) + r"))$")
def _paint(match):
    original = noun_phrase(match.group(1))
    return result(original, f"{noun_phrase(match.group(2), False)} {head(original)}", "attribute change")


@rule(r"^make\s+(.+?)\s+look\s+like\s+(?:it\s+is\s+made\s+of\s+|it'?s\s+made\s+of\s+)?(.+)$")
def _look_like(match):
    if is_whole_image(match.group(1)):
        return GLOBAL
    original = noun_phrase(match.group(1))
    target = noun_phrase(match.group(2), strip_location=False)
    if target in MATERIALS or is_attribute(target):
        return result(original, f"{target} {head(original)}", "attribute change")
    return classify_change(match.group(1), match.group(2))


# "make X made of Y" reads like "change the material of X to Y".
rule(r"^(?:make|let)\s+(.+?)\s+(?:be\s+)?made\s+of\s+(.+)$")(_attribute_of)


@rule(rf"^(?:{CHANGE_VERBS})\s+(.+?)\s+(?:into|to|in to|to be|for)\s+(.+)$")
def _change_into(match):
    # Whole-image subjects (the scene, the style, the lighting, the season) are global edits.
    return classify_change(match.group(1), match.group(2))


@rule(r"^(?:make|turn)\s+(.+?)\s+(?:an?)\s+(.+)$")
def _make_into_object(match):
    return classify_change(match.group(1), match.group(2), target_is_noun=True)


@rule(r"^(?:there\s+(?:should|could|must)\s+be|let\s+there\s+be|there\s+is|there\s+are)\s+(.+)$")
def _there_be(match):
    return result(None, with_article(noun_phrase(match.group(1))), "add")


@rule(r"^(.+?)\s+should\s+(?:be|become|look)\s+(.+)$")
def _should_be(match):
    if is_whole_image(match.group(1)):
        return GLOBAL
    return classify_change(match.group(1), match.group(2))


@rule(r"^(?:make|let|have)\s+(.+?)\s+(?:wear|hold|have|carry|get)\s+(.+)$")
def _wear(match):
    return result(None, with_article(noun_phrase(match.group(2))), "add")


@rule(r"^(?:what if|imagine if|imagine)\s+(?:.+?)\s+(?:had|has|wore|was wearing|were wearing|held|was holding)\s+(.+)$")
def _what_if_had(match):
    return result(None, with_article(noun_phrase(match.group(1))), "add")


@rule(r"^give\s+(.+?)\s+(an?\s+.+|some\s+.+)$")
def _give(match):
    return result(None, with_article(noun_phrase(match.group(2))), "add")


@rule(r"^(?:make|let)\s+(.+?)\s+(?:more\s+|less\s+|very\s+)?(\w+(?:\s+and\s+\w+)?)$")
def _make_adjective(match):
    subject, adjective = match.group(1), match.group(2)
    adjective = VERB_STATES.get(adjective.lower(), adjective)
    if is_whole_image(subject) or (mentions_global(adjective) and not is_attribute(adjective)):
        return GLOBAL
    if not is_attribute(adjective) and is_whole_image(subject.split()[0]):
        return GLOBAL
    original = noun_phrase(subject)
    return result(original, f"{adjective.lower()} {original}", "attribute change")


@rule(rf"^(?:{REMOVE_VERBS})\s+(.+)$")
def _remove(match):
    target = noun_phrase(match.group(1))
    if not target or target in WHOLE_IMAGE or (set(_words(target)) & GLOBAL_WORDS):
        return GLOBAL  # weather / degradation removal ("remove the snow", "remove the haze")
    return result(with_article(target), None, "remove")


@rule(r"^(?:make|let)\s+(.+?)\s+(?:disappear|vanish|go away)$")
def _disappear(match):
    return result(with_article(noun_phrase(match.group(1))), None, "remove")


@rule(rf"^(?:{ADD_VERBS})\s+(.+)$")
def _add(match):
    target = noun_phrase(match.group(1))
    if not target or (set(_words(target)) & GLOBAL_WORDS):
        return GLOBAL  # "add snow", "add dramatic lighting"
    return result(None, with_article(target), "add")


@rule(r"^(?:without|no)\s+(.+)$")
def _without(match):
    return result(with_article(noun_phrase(match.group(1))), None, "remove")


def parse_rules(instruction: str) -> dict:
    """Parse one instruction. Unmatched or empty instructions are `global` (weak ε prior)."""
    text = _clean(instruction or "")
    # Several clauses ("remove the cat and add a dog"): parse the first one.
    text = re.split(r"\s*(?:;|,\s*then|\.\s+|\band then\b|\band\s+(?=(?:add|remove|replace|change|turn|make|put)\b))\s*", text, flags=re.I)[0]
    if not text:
        return dict(GLOBAL)
    for pattern, handler in PATTERNS:
        match = pattern.match(text)
        if match:
            return dict(handler(match))
    return dict(GLOBAL)


class RuleParser:
    """The rule-based parser as a parser object (see parser.InstructionParser)."""

    name = "rules"

    def parse(self, instructions: list[str]) -> list[dict]:
        return [parse_rules(text) for text in instructions]


RULES = RuleParser()
