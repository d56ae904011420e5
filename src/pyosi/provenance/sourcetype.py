"""IPTC Digital Source Type: the vocabulary C2PA actions and XMP use to say how media was made.

Terms are compared exactly, never by substring: ``algorithmicMedia`` (made by an algorithm
without training data, e.g. a fractal) is not generative AI, although ``trainedAlgorithmicMedia``
contains it.
"""

from __future__ import annotations

from typing import Literal

IPTC_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# Prefixes seen in the wild for the same vocabulary.
_PREFIXES = (IPTC_PREFIX, "https://cv.iptc.org/newscodes/digitalsourcetype/", "iptc:", "c2pa.")

Meaning = Literal["generated", "edited", "captured", "none"]

TRAINED_ALGORITHMIC_MEDIA = IPTC_PREFIX + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = IPTC_PREFIX + "compositeWithTrainedAlgorithmicMedia"

_MEANINGS: dict[str, Meaning] = {
    "trainedAlgorithmicMedia": "generated",
    "compositeWithTrainedAlgorithmicMedia": "edited",
    # "synthetic composite": AI only if the synthetic part is; callers mark it for review.
    "compositeSynthetic": "edited",
    "digitalCapture": "captured",
    "computationalCapture": "captured",
    "negativeFilm": "captured",
    "positiveFilm": "captured",
    "print": "captured",
    "compositeCapture": "captured",
}

#: Terms whose meaning is uncertain enough that a label should go to review, not straight out.
NEEDS_REVIEW = frozenset({"compositeSynthetic"})


def term(value: str) -> str:
    """The bare vocabulary term of a URI or prefixed code ("" when it is not this vocabulary)."""
    v = value.strip()
    for prefix in _PREFIXES:
        if v.startswith(prefix):
            return v[len(prefix) :]
    return ""


def meaning(value: str) -> Meaning:
    """What a digital source type says about AI: generated, edited, captured or none."""
    return _MEANINGS.get(term(value), "none")


def uri(kind: Literal["generated", "edited"]) -> str:
    return (
        TRAINED_ALGORITHMIC_MEDIA
        if kind == "generated"
        else COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    )
