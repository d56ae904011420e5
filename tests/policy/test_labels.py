"""The default policy: one verdict and a bilingual label from many signals."""

from __future__ import annotations

from pyosi.policy.labels import FileVerdict, decide, label_for
from pyosi.signals.base import Basis, Signal, Verdict


def _sig(detector: str, verdict: Verdict, confidence: float = 0.9, **kw: object) -> Signal:
    return Signal(detector, f"{detector}.x", verdict, confidence, Basis.METADATA, "e", **kw)  # type: ignore[arg-type]


def test_generated_beats_edited_beats_captured() -> None:
    d = decide([_sig("c2pa", Verdict.CAPTURED), _sig("xmp", Verdict.EDITED)])
    assert d.verdict is FileVerdict.AI_EDITED
    assert d.label is not None and (d.label.ko, d.label.en) == ("AI로 편집됨", "AI-edited")
    d = decide([_sig("xmp", Verdict.EDITED), _sig("traces", Verdict.GENERATED)])
    assert d.verdict is FileVerdict.AI_GENERATED
    assert d.label is not None and (d.label.ko, d.label.en) == ("AI 생성", "AI-generated")


def test_captured_needs_signed_credentials() -> None:
    assert decide([_sig("xmp", Verdict.CAPTURED)]).verdict is FileVerdict.NO_SIGNAL
    d = decide([_sig("c2pa", Verdict.CAPTURED)])
    assert d.verdict is FileVerdict.CAPTURED and d.label is not None
    assert d.label.rests_on == ("c2pa",)


def test_weak_signals_do_not_count() -> None:
    assert decide([_sig("x", Verdict.GENERATED, confidence=0.2)]).verdict is FileVerdict.NO_SIGNAL
    assert decide([]).label is None


def test_label_says_what_it_rests_on() -> None:
    sigs = [
        _sig("c2pa", Verdict.GENERATED),
        Signal("pyosi-watermark", "w", Verdict.GENERATED, 1.0, Basis.WATERMARK, "e"),
        _sig("xmp", Verdict.GENERATED),
    ]
    label = decide(sigs).label
    assert label is not None and label.rests_on == ("c2pa", "watermark", "metadata")
    text = label.to_json()["rests_on_text"]
    assert text["en"] == "C2PA Content Credentials, watermark, metadata"
    assert "워터마크" in text["ko"]


def test_recovered_credentials_are_named_when_metadata_is_gone() -> None:
    recovered = Signal(
        "pyosi-watermark",
        "w",
        Verdict.GENERATED,
        1.0,
        Basis.WATERMARK,
        "e",
        {"credentials_recovered": True},
    )
    label = decide([recovered]).label
    assert label is not None and label.rests_on == ("recovered",)
    assert label.to_json()["rests_on_text"]["en"] == "credentials recovered from watermark"


def test_review_flag_only_when_every_supporting_signal_is_doubtful() -> None:
    doubtful = _sig("c2pa", Verdict.GENERATED, confidence=0.5, needs_review=True)
    assert decide([doubtful]).needs_review
    assert not decide([doubtful, _sig("xmp", Verdict.GENERATED)]).needs_review


def test_no_signal_has_no_label() -> None:
    assert label_for(FileVerdict.NO_SIGNAL) is None
