"""The default policy: from a file's signals to one verdict and the label to show (ko and en).

Order of strength: AI-generated, then AI-edited, then "captured" (only from a C2PA manifest that
validates: unsigned capture claims prove nothing), then no signal. A signal counts when its
confidence is at least ``MIN_CONFIDENCE``. Every label says what it rests on. The wording lives in
``labels.toml``.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

from pyosi.signals.base import Basis, Signal, Verdict

MIN_CONFIDENCE = 0.5


class FileVerdict(StrEnum):
    AI_GENERATED = "ai-generated"
    AI_EDITED = "ai-edited"
    CAPTURED = "captured"
    NO_SIGNAL = "no-signal"


_FROM_SIGNAL = {
    Verdict.GENERATED: FileVerdict.AI_GENERATED,
    Verdict.EDITED: FileVerdict.AI_EDITED,
    Verdict.CAPTURED: FileVerdict.CAPTURED,
}
_ORDER = [FileVerdict.AI_GENERATED, FileVerdict.AI_EDITED, FileVerdict.CAPTURED]


@dataclass(frozen=True)
class Label:
    ko: str
    en: str
    #: What the label rests on, e.g. ("c2pa", "watermark"); keys of labels.toml's [basis].
    rests_on: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        texts = _table()["basis"]
        return {
            "ko": self.ko,
            "en": self.en,
            "rests_on": list(self.rests_on),
            "rests_on_text": {
                lang: ", ".join(texts.get(b, {}).get(lang, b) for b in self.rests_on)
                for lang in ("ko", "en")
            },
        }


@dataclass(frozen=True)
class Decision:
    verdict: FileVerdict
    label: Label | None
    needs_review: bool


@functools.cache
def _table() -> Mapping[str, Any]:
    text = resources.files("pyosi.policy").joinpath("labels.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def basis_names() -> Mapping[str, Mapping[str, str]]:
    """``{basis id: {"ko": …, "en": …}}``: what a label can rest on, in words."""
    return _table()["basis"]  # type: ignore[no-any-return]


def label_for(verdict: FileVerdict, rests_on: Iterable[str] = ()) -> Label | None:
    entry = _table()["verdicts"].get(verdict.value)
    if entry is None:
        return None
    return Label(ko=entry["ko"], en=entry["en"], rests_on=tuple(dict.fromkeys(rests_on)))


def rests_on(signal: Signal) -> str:
    """The basis name a label cites for this signal."""
    if signal.detector == "c2pa":
        return "c2pa"
    if signal.details.get("credentials_recovered"):
        return "recovered"
    return signal.basis.value if isinstance(signal.basis, Basis) else str(signal.basis)


def decide(signals: Iterable[Signal]) -> Decision:
    """The file's verdict and label from its signals (see the module docstring)."""
    counted: dict[FileVerdict, list[Signal]] = {v: [] for v in _ORDER}
    for s in signals:
        fv = _FROM_SIGNAL.get(s.verdict)
        if fv is None or s.confidence < MIN_CONFIDENCE:
            continue
        if fv is FileVerdict.CAPTURED and s.detector != "c2pa":
            continue
        counted[fv].append(s)
    has_own_credentials = any(s.detector == "c2pa" for s in counted[_ORDER[0]] + counted[_ORDER[1]])
    for fv in _ORDER:
        if counted[fv]:
            support = counted[fv]
            bases = [rests_on(s) for s in support]
            if has_own_credentials:  # the file still carries them: nothing was "recovered"
                bases = ["watermark" if b == "recovered" else b for b in bases]
            return Decision(
                verdict=fv,
                label=label_for(fv, bases),
                needs_review=all(s.needs_review for s in support),
            )
    return Decision(FileVerdict.NO_SIGNAL, None, needs_review=False)
