"""Checks every registered detector must pass (as python-threatexchange's SignalTypeAutoTest)."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from pyosi.errors import PyosiError
from pyosi.signals import ScanContext, Signal, SignalType, Subject, signal_types


def _png(size: tuple[int, int] = (300, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(buf, "PNG")
    return buf.getvalue()


HOSTILE = {
    "empty": b"",
    "text": b"hello, not media",
    "truncated-png": _png()[:60],
    "truncated-jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "tiny": _png((8, 8)),
    "riff-junk": b"RIFF\xff\xff\xff\xffWEBPVP8 " + b"\x00" * 64,
}


@pytest.fixture(params=signal_types(), ids=lambda t: t.name)
def detector(request: pytest.FixtureRequest) -> SignalType:
    cls: type[SignalType] = request.param
    return cls()


def test_declares_itself(detector: SignalType) -> None:
    assert detector.name and detector.name == detector.name.strip().lower()
    assert detector.media_types and detector.description
    names = [t.name for t in signal_types()]
    assert names.count(detector.name) == 1


def test_plain_image_gives_no_ai_signal(detector: SignalType) -> None:
    signals = detector.detect(Subject(_png()), ScanContext())
    assert all(isinstance(s, Signal) for s in signals)
    assert all(s.verdict.value == "none" for s in signals)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_an_empty_result_or_a_pyosi_error(detector: SignalType, name: str) -> None:
    subject = Subject(HOSTILE[name])
    if not detector.applies_to(subject):
        assert subject.media_type not in detector.media_types  # the scan skips it
        return
    try:
        signals = detector.detect(subject, ScanContext())
    except PyosiError as e:
        assert str(e)  # a clear message, which the scan records per file
        return
    for s in signals:
        json.dumps(s.to_json())
