"""The result of looking for a watermark."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Detection:
    """What :func:`pyosi.watermark.detect_image` found.

    ``detected`` is true only when ``false_alarm_probability`` is at most the call's limit (1e-6 by
    default); ``payload`` and ``key_id`` are set only then. The probability covers the whole call:
    every key, geometric hypothesis, orientation and offset that was tried.
    """

    detected: bool
    payload: bytes | None
    key_id: str | None
    false_alarm_probability: float
    #: Sync z-score of the best candidate (standard normal under "not marked with this key").
    score: float = 0.0
    #: Geometry the detector recovered: tile period (pixels), rotation (degrees), mirrored.
    geometry: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def nothing(cls, score: float = 0.0, fap: float = 1.0) -> Detection:
        return cls(False, None, None, fap, score)

    def to_dict(self) -> dict[str, Any]:
        return {
            "detected": self.detected,
            "payload": self.payload.hex() if self.payload is not None else None,
            "key_id": self.key_id,
            "false_alarm_probability": self.false_alarm_probability,
            "score": round(self.score, 3),
            "geometry": self.geometry,
        }
