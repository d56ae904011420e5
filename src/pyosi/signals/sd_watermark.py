"""Stable Diffusion's own invisible watermark (invisible-watermark, dwtDct).

SD v1/v2 reference scripts embed the bytes ``StableDiffusionV1``; diffusers' SDXL pipelines embed
48 fixed bits. Reported only when the bit agreement makes a chance match negligible; the
probability is stated. The mark is fragile (it rarely survives resizing or recompression), so its
absence says nothing.
"""

from __future__ import annotations

from pyosi.provenance.sd_watermark import detect_sd_watermarks
from pyosi.signals.base import Basis, MediaType, ScanContext, Signal, SignalType, Subject, Verdict
from pyosi.signals.registry import register

MAX_CHANCE = 1e-6


@register
class SdWatermarkSignal(SignalType):
    name = "sd-watermark"
    media_types = frozenset({MediaType.IMAGE})
    description = "Stable Diffusion v1/v2 and SDXL invisible watermarks (dwtDct)"

    def detect(self, subject: Subject, context: ScanContext) -> list[Signal]:
        rgb = subject.rgb
        return [
            Signal(
                detector=self.name,
                kind="watermark.stable-diffusion",
                verdict=Verdict.GENERATED,
                confidence=1.0 - m.chance_probability,
                basis=Basis.WATERMARK,
                evidence=(
                    f"{m.name} watermark: {m.bits_agree} of {m.n_bits} bits agree "
                    f"(chance {m.chance_probability:.1e})"
                ),
                details={
                    "mark": m.name,
                    "bits_agree": m.bits_agree,
                    "n_bits": m.n_bits,
                    "chance_probability": m.chance_probability,
                    "channel_order": m.channel_order,
                },
            )
            for m in detect_sd_watermarks(rgb, max_chance=MAX_CHANCE)
        ]
