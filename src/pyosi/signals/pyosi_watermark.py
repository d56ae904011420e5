"""pyosi's own watermark, tried with every registered key (own and partners').

A detection gives the content id; when the manifest store holds credentials for it, they are
recovered and reported ("credentials recovered from watermark"), which is what keeps
credentials alive after a platform strips metadata.
"""

from __future__ import annotations

from pyosi.provenance import sourcetype
from pyosi.signals.base import Basis, MediaType, ScanContext, Signal, SignalType, Subject, Verdict
from pyosi.signals.registry import register
from pyosi.watermark import MIN_IMAGE_SIDE, detect_image


@register
class PyosiWatermarkSignal(SignalType):
    name = "pyosi-watermark"
    media_types = frozenset({MediaType.IMAGE})
    description = "pyosi invisible watermark with every registered key; recovers credentials"

    def detect(self, subject: Subject, context: ScanContext) -> list[Signal]:
        if not context.keys:
            return []
        image = subject.loaded.image
        if min(image.size) < MIN_IMAGE_SIDE:
            return []  # too small to carry a mark: nothing to find, not an error
        d = detect_image(image, keys=list(context.keys))
        if not d.detected or d.payload is None:
            return []
        stored = context.store.get(d.payload) if context.store is not None else None
        verdict = Verdict.GENERATED
        details: dict[str, object] = {
            "key_id": d.key_id,
            "content_id": d.payload.hex(),
            "false_alarm_probability": d.false_alarm_probability,
            "credentials_recovered": stored is not None,
        }
        evidence = (
            f"pyosi watermark (key {d.key_id}, content id {d.payload.hex()}, "
            f"false-alarm probability {d.false_alarm_probability:.1e})"
        )
        if stored is not None:
            if stored.digital_source_type and sourcetype.meaning(stored.digital_source_type) == (
                "edited"
            ):
                verdict = Verdict.EDITED
            details["manifest"] = stored.manifest
            details["stored"] = {
                "title": stored.title,
                "signer": stored.signer,
                "created_at": stored.created_at.isoformat(),
                "sha256": stored.sha256,
                "digital_source_type": stored.digital_source_type,
            }
            evidence += "; credentials recovered from watermark"
        return [
            Signal(
                detector=self.name,
                kind="watermark.pyosi",
                verdict=verdict,
                confidence=1.0 - d.false_alarm_probability,
                basis=Basis.WATERMARK,
                evidence=evidence,
                details=details,
            )
        ]
