"""Titles and queries to search keys: one normalization for both sides.

`normalize` is what API.md asks for: Unicode NFKC, case folding, `ё` → `е`,
punctuation to spaces, runs of spaces collapsed. `search_key` then folds the
result to ASCII (Cyrillic transliterated, kana romanized, Latin diacritics
dropped, other CJK characters spelled as code-point tokens), so every title
and query is words of one alphabet, compared and counted in typos the same
way (ranking.py), and a Russian spelling of a Japanese name ("наруто") lands
on its romaji title ("naruto").
"""

# Cyrillic letters that look Latin are the point of this module.
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

import re
import unicodedata

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya", "і": "i", "ї": "i", "є": "e", "ґ": "g", "ў": "u",
}  # fmt: skip

# Hiragana, five vowels per row; katakana is the same block shifted by 0x60.
_KANA_ROWS = {
    "あいうえお": ("a", "i", "u", "e", "o"),
    "かきくけこ": ("ka", "ki", "ku", "ke", "ko"),
    "がぎぐげご": ("ga", "gi", "gu", "ge", "go"),
    "さしすせそ": ("sa", "shi", "su", "se", "so"),
    "ざじずぜぞ": ("za", "ji", "zu", "ze", "zo"),
    "たちつてと": ("ta", "chi", "tsu", "te", "to"),
    "だぢづでど": ("da", "ji", "zu", "de", "do"),
    "なにぬねの": ("na", "ni", "nu", "ne", "no"),
    "はひふへほ": ("ha", "hi", "fu", "he", "ho"),
    "ばびぶべぼ": ("ba", "bi", "bu", "be", "bo"),
    "ぱぴぷぺぽ": ("pa", "pi", "pu", "pe", "po"),
    "まみむめも": ("ma", "mi", "mu", "me", "mo"),
    "らりるれろ": ("ra", "ri", "ru", "re", "ro"),
    "ぁぃぅぇぉ": ("a", "i", "u", "e", "o"),
}
_KANA: dict[str, str] = {
    "や": "ya", "ゆ": "yu", "よ": "yo", "ゃ": "ya", "ゅ": "yu", "ょ": "yo",
    "わ": "wa", "を": "o", "ん": "n", "ゔ": "vu", "っ": "", "ー": "",
}  # fmt: skip
for _row, _sounds in _KANA_ROWS.items():
    _KANA.update(zip(_row, _sounds, strict=True))
_KANA.update({chr(ord(kana) + 0x60): sound for kana, sound in list(_KANA.items()) if kana != "ー"})
# Small ya/yu/yo after an i-sound kana fuse with it: きゃ is "kya", not "kiya".
_YOON = {"ゃ": "a", "ゅ": "u", "ょ": "o", "ャ": "a", "ュ": "u", "ョ": "o"}


# How `search_key` spells one ideograph.
CJK_TOKEN = re.compile(r"x[0-9a-f]{4,6}")


def normalize(value: str) -> str:
    """Case, NFKC, `ё` → `е`, punctuation to spaces, spacing collapsed."""
    folded = unicodedata.normalize("NFKC", value).casefold().replace("ё", "е")
    kept = "".join(
        char if char.isalnum() or unicodedata.category(char) == "Mn" else " " for char in folded
    )
    return " ".join(kept.split())


def _is_cjk(char: str) -> bool:
    return unicodedata.category(char) == "Lo"


def _fold_char(char: str) -> str:
    if char in _CYRILLIC:
        return _CYRILLIC[char]
    if char in _KANA:
        return _KANA[char]
    if char.isascii():
        return char if char.isalnum() else " "
    # Latin with diacritics (romaji "kyōjin", "pokémon"): drop the marks.
    stripped = "".join(
        part for part in unicodedata.normalize("NFKD", char) if unicodedata.category(part) != "Mn"
    )
    if stripped.isascii():
        return stripped if stripped.isalnum() else " "
    if _is_cjk(char):
        # A word of its own per ideograph: exact and prefix matching still work.
        return f" x{ord(char):x} "
    return " "


def search_key(value: str) -> str:
    """The ASCII key of a title or a query; equal keys mean "the same name"."""
    text = normalize(value)
    parts: list[str] = []
    for index, char in enumerate(text):
        if char in _YOON and parts and parts[-1].endswith("i") and index > 0:
            parts[-1] = parts[-1][:-1]
            parts.append("y" + _YOON[char])
            continue
        parts.append(_fold_char(char))
    return " ".join("".join(parts).split())
