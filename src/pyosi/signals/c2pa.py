"""C2PA Content Credentials: the signed claim of how a file was made.

The verdict rests on the IPTC digital source types in the manifest's actions (and, when the active
manifest says nothing about AI, its ingredients'), never on names. Names of known AI services in
the claim generator, software agent or signer only attribute the file, and stand in for a verdict
only when a manifest names an AI service but gives no source type at all. A manifest that fails
validation still says something, but goes to review with lower confidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pyosi.provenance import sourcetype
from pyosi.provenance.credentials import Credentials, read_credentials
from pyosi.signals.base import (
    Basis,
    MediaType,
    ScanContext,
    Signal,
    SignalType,
    Subject,
    Verdict,
)
from pyosi.signals.registry import register

# (needle, who): lower-case substrings of claim generator / software agent / signer, with "_"
# read as " ". Specific on purpose: bare "google", "adobe" or "gpt" also sign ordinary edits.
# Sources: published manifests (OpenAI, Adobe Firefly, Google, Microsoft; see docs/signals.md).
AI_GENERATORS: tuple[tuple[str, str], ...] = (
    ("openai", "OpenAI"),
    ("chatgpt", "OpenAI ChatGPT"),
    ("dall·e", "OpenAI DALL·E"),
    ("dall-e", "OpenAI DALL·E"),
    ("gpt-image", "OpenAI gpt-image"),
    ("adobe firefly", "Adobe Firefly"),
    ("google c2pa core generator", "Google"),
    ("made with google ai", "Google"),
    ("responsible ai", "Microsoft"),
    ("image creator", "Microsoft Designer / Bing Image Creator"),
    ("azure openai", "Microsoft Azure OpenAI"),
    ("midjourney", "Midjourney"),
    ("stability ai", "Stability AI"),
    ("stable diffusion", "Stable Diffusion"),
    ("meta ai", "Meta AI"),
    ("runway", "Runway"),
)

_STATE_CONFIDENCE = {"Trusted": 0.99, "Valid": 0.9, "Invalid": 0.5}
_ORDER = {Verdict.GENERATED: 0, Verdict.EDITED: 1, Verdict.CAPTURED: 2, Verdict.NONE: 3}


def ai_generator(names: Iterable[str | None]) -> str | None:
    """The known AI service these names point at, if any."""
    for name in names:
        if not name:
            continue
        text = name.lower().replace("_", " ")
        for needle, who in AI_GENERATORS:
            if needle in text:
                return who
    return None


@register
class C2paSignal(SignalType):
    name = "c2pa"
    media_types = frozenset({MediaType.IMAGE, MediaType.VIDEO, MediaType.AUDIO, MediaType.DOCUMENT})
    description = "C2PA Content Credentials: signed source type, generator, validation state"

    def detect(self, subject: Subject, context: ScanContext) -> list[Signal]:
        creds = read_credentials(subject.data, anchors=context.anchors)
        if creds is None:
            return []
        return [credentials_signal(creds, self.name)]


def credentials_signal(creds: Credentials, detector: str, *, recovered: bool = False) -> Signal:
    """The signal a manifest gives (also used for manifests recovered through a watermark)."""
    verdict, dst, from_ingredient = _verdict(creds)
    generator = ai_generator([creds.claim_generator, *creds.software_agents, creds.issuer])
    if verdict is Verdict.NONE and generator is not None:
        verdict = Verdict.GENERATED
    confidence = _STATE_CONFIDENCE[creds.state]
    if verdict is Verdict.GENERATED and dst is None:
        confidence = min(confidence, 0.8)  # a name, not a declared source type
    review = creds.state == "Invalid" or sourcetype.term(dst or "") in sourcetype.NEEDS_REVIEW
    if verdict is Verdict.CAPTURED and creds.state == "Invalid":
        verdict = Verdict.NONE  # a broken camera claim proves nothing about capture
    return Signal(
        detector=detector,
        kind="c2pa.recovered-manifest" if recovered else "c2pa.manifest",
        verdict=verdict,
        confidence=confidence,
        basis=Basis.WATERMARK if recovered else Basis.METADATA,
        evidence=_evidence(creds, verdict, dst, from_ingredient, generator, recovered),
        details={**creds.summary(), "ai_generator": generator},
        needs_review=review,
    )


def _verdict(creds: Credentials) -> tuple[Verdict, str | None, bool]:
    own = _best(creds.digital_source_types)
    if own[0] in {Verdict.GENERATED, Verdict.EDITED}:
        return own[0], own[1], False
    ingredient = _best(_ingredient_source_types(creds.store))
    if ingredient[0] in {Verdict.GENERATED, Verdict.EDITED}:
        return ingredient[0], ingredient[1], True
    return own[0], own[1], False


def _best(types: Iterable[str]) -> tuple[Verdict, str | None]:
    best: tuple[Verdict, str | None] = (Verdict.NONE, None)
    for t in types:
        v = Verdict(sourcetype.meaning(t))
        if _ORDER[v] < _ORDER[best[0]]:
            best = (v, t)
    return best


def _ingredient_source_types(store: Mapping[str, Any]) -> list[str]:
    active = store.get("active_manifest")
    out: list[str] = []
    for label, manifest in (store.get("manifests") or {}).items():
        if label == active or not isinstance(manifest, dict):
            continue
        for assertion in manifest.get("assertions", []):
            if str(assertion.get("label", "")).startswith("c2pa.actions"):
                for a in (assertion.get("data") or {}).get("actions", []):
                    if isinstance(a, dict) and a.get("digitalSourceType"):
                        out.append(str(a["digitalSourceType"]))
    return out


def _evidence(
    creds: Credentials,
    verdict: Verdict,
    dst: str | None,
    from_ingredient: bool,
    generator: str | None,
    recovered: bool,
) -> str:
    where = "Credentials recovered from the watermark" if recovered else "C2PA manifest"
    state = creds.state if creds.state != "Valid" else "Valid (signer not on the trust list)"
    parts = [f"{where} signed by {creds.signer or 'unknown'} ({state})"]
    if dst:
        origin = "an ingredient" if from_ingredient else "the manifest"
        parts.append(f"{origin} declares {sourcetype.term(dst)}")
    if generator:
        parts.append(f"made with {generator}")
    if creds.state == "Invalid":
        parts.append("validation failed: " + ", ".join(creds.failures))
    if verdict is Verdict.NONE and not dst and not generator:
        parts.append("no AI source type declared")
    return "; ".join(parts)
