"""Content Credentials (C2PA) through c2pa-python: build AI manifests, sign, read and verify.

Nothing here parses or writes C2PA itself; c2pa-rs (bundled in c2pa-python) does, and this module
turns its JSON into a small typed summary. Trust is explicit: the verifier trusts this
installation's own roots, ``trust/*.pem`` in the data directory and any bundle the caller passes,
never c2pa-rs's test roots, and never fetches anything (remote manifests and OCSP are off).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import c2pa

from pyosi.errors import ProvenanceError
from pyosi.media.sniff import HEAD_BYTES, sniff_mime
from pyosi.paths import subdir
from pyosi.provenance import sourcetype
from pyosi.provenance.identity import Identity, own_roots

SOFT_BINDING_ALG = "io.pyosi.watermark.v1"
GENERATION_LABEL = "io.pyosi.generation"
TRUST_ENV = "PYOSI_TRUST_ANCHORS"

State = Literal["Trusted", "Valid", "Invalid"]

_ALGS = {
    "es256": c2pa.C2paSigningAlg.ES256,
    "es384": c2pa.C2paSigningAlg.ES384,
    "es512": c2pa.C2paSigningAlg.ES512,
    "ps256": c2pa.C2paSigningAlg.PS256,
    "ed25519": c2pa.C2paSigningAlg.ED25519,
}

# What c2pa-rs reads (and the MIME it must be told, matching the bytes).
C2PA_MIMES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/tiff",
        "image/webp",
        "image/avif",
        "image/heic",
        "image/heif",
        "application/pdf",
        "audio/flac",
        "audio/mpeg",
        "audio/wav",
        "audio/mp4",
        "video/avi",
        "video/mp4",
        "video/quicktime",
    }
)


@dataclass(frozen=True)
class Action:
    action: str
    digital_source_type: str | None = None
    software_agent: str | None = None
    when: str | None = None


@dataclass(frozen=True)
class Ingredient:
    title: str | None
    relationship: str | None
    format: str | None
    #: Validation failures c2pa-rs recorded for the ingredient's own manifest, if it had one.
    failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Credentials:
    """A file's active C2PA manifest, summarised, with c2pa-rs's verdict on it."""

    state: State
    failures: tuple[str, ...]
    signer: str | None
    issuer: str | None
    signed_at: str | None
    claim_generator: str | None
    title: str | None
    actions: tuple[Action, ...]
    ingredients: tuple[Ingredient, ...]
    soft_bindings: tuple[tuple[str, bytes], ...]
    generation: Mapping[str, Any] | None
    manifest_label: str | None
    #: The whole manifest store as c2pa-rs reports it (for storage and display).
    store: Mapping[str, Any] = field(repr=False)

    @property
    def digital_source_types(self) -> tuple[str, ...]:
        return tuple(a.digital_source_type for a in self.actions if a.digital_source_type)

    @property
    def software_agents(self) -> tuple[str, ...]:
        return tuple(a.software_agent for a in self.actions if a.software_agent)

    @property
    def pyosi_payload(self) -> bytes | None:
        """The content id pyosi's watermark carries, from a ``c2pa.soft-binding`` assertion."""
        for alg, value in self.soft_bindings:
            if alg == SOFT_BINDING_ALG and len(value) == 8:
                return value
        return None

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (stable keys; see docs/scan.md)."""
        return {
            "state": self.state,
            "failures": list(self.failures),
            "signer": self.signer,
            "issuer": self.issuer,
            "signed_at": self.signed_at,
            "claim_generator": self.claim_generator,
            "title": self.title,
            "digital_source_types": list(self.digital_source_types),
            "actions": [
                {
                    "action": a.action,
                    "digital_source_type": a.digital_source_type,
                    "software_agent": a.software_agent,
                    "when": a.when,
                }
                for a in self.actions
            ],
            "ingredients": [
                {
                    "title": i.title,
                    "relationship": i.relationship,
                    "format": i.format,
                    "failures": list(i.failures),
                }
                for i in self.ingredients
            ],
            "soft_bindings": [
                {"alg": alg, "value": base64.b64encode(v).decode()} for alg, v in self.soft_bindings
            ],
            "generation": dict(self.generation) if self.generation is not None else None,
        }


# -- trust -----------------------------------------------------------------------------------


def trust_anchors(extra: Sequence[Path] = ()) -> str:
    """PEM bundle of every anchor the verifier trusts: own roots, ``trust/*.pem``, ``extra``."""
    pems = [p.decode("utf-8", "replace") for p in own_roots()]
    trust_dir = subdir("trust")
    files = sorted(trust_dir.glob("*.pem")) if trust_dir.is_dir() else []
    env = os.environ.get(TRUST_ENV)
    files += [Path(p) for p in env.split(os.pathsep) if p] if env else []
    for path in [*files, *extra]:
        try:
            pems.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            raise ProvenanceError(f"cannot read trust anchors {path}: {e}") from None
    return "\n".join(p.strip() for p in pems if "BEGIN CERTIFICATE" in p) + "\n"


@functools.lru_cache(maxsize=8)
def _reader_context(anchors: str) -> c2pa.Context:
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if anchors.strip():
        settings["trust"] = {"user_anchors": anchors}
    return c2pa.Context.from_dict(settings)


# -- reading ---------------------------------------------------------------------------------


def read_credentials(data: bytes, *, anchors: str | None = None) -> Credentials | None:
    """The file's Content Credentials, or None when it carries none.

    ``anchors`` is a PEM bundle (default: :func:`trust_anchors`). Raises
    :class:`ProvenanceError` when the file claims a format c2pa-rs reads but cannot be parsed
    (hostile or damaged), with c2pa-rs's reason.
    """
    mime = sniff_mime(data[:HEAD_BYTES])
    if mime not in C2PA_MIMES:
        return None
    ctx = _reader_context(trust_anchors() if anchors is None else anchors)
    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), context=ctx)
    except c2pa.C2paError as e:
        raise ProvenanceError(f"C2PA: cannot parse this {mime} file: {_reason(e)}") from None
    if reader is None:
        return None
    try:
        store = json.loads(reader.json())
        state = reader.get_validation_state()
    except (c2pa.C2paError, ValueError) as e:
        raise ProvenanceError(f"C2PA: cannot read the manifest: {_reason(e)}") from None
    finally:
        reader.close()
    return _summarise(store, str(state))


def _reason(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.split("\n", 1)[0][:300]


def _summarise(store: dict[str, Any], state: str) -> Credentials:
    label = store.get("active_manifest")
    manifests = store.get("manifests") or {}
    m: dict[str, Any] = manifests.get(label, {}) if isinstance(manifests, dict) else {}
    # validation_status is c2pa-rs's flat list of every failure, ingredients' included (an
    # untrusted ingredient signer shows only there); activeManifest.failure is the fallback.
    status = store.get("validation_status")
    if not isinstance(status, list):
        results = store.get("validation_results") or {}
        status = (results.get("activeManifest") or {}).get("failure", [])
    failures = list(dict.fromkeys(f.get("code", "") for f in status if isinstance(f, dict)))
    sig = m.get("signature_info") or {}
    actions: list[Action] = []
    soft: list[tuple[str, bytes]] = []
    generation: dict[str, Any] | None = None
    for assertion in m.get("assertions", []):
        lab, data = assertion.get("label", ""), assertion.get("data") or {}
        if lab.startswith("c2pa.actions"):
            actions.extend(_action(a) for a in data.get("actions", []) if isinstance(a, dict))
        elif lab.startswith("c2pa.soft-binding"):
            soft.extend(_soft_bindings(data))
        elif lab == GENERATION_LABEL and isinstance(data, dict):
            generation = data
    ingredients = tuple(
        Ingredient(
            title=i.get("title"),
            relationship=i.get("relationship"),
            format=i.get("format"),
            failures=tuple(
                f.get("code", "")
                for f in (i.get("validation_results") or {})
                .get("activeManifest", {})
                .get("failure", [])
            ),
        )
        for i in m.get("ingredients", [])
        if isinstance(i, dict)
    )
    valid_state: State = state if state in {"Trusted", "Valid", "Invalid"} else "Invalid"  # type: ignore[assignment]
    return Credentials(
        state=valid_state,
        failures=tuple(failures),
        signer=sig.get("common_name") or sig.get("issuer"),
        issuer=sig.get("issuer"),
        signed_at=sig.get("time"),
        claim_generator=_claim_generator(m),
        title=m.get("title"),
        actions=tuple(actions),
        ingredients=ingredients,
        soft_bindings=tuple(soft),
        generation=generation,
        manifest_label=label,
        store=store,
    )


def _claim_generator(m: Mapping[str, Any]) -> str | None:
    if isinstance(m.get("claim_generator"), str):
        return str(m["claim_generator"])
    info = m.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        name, version = info[0].get("name"), info[0].get("version")
        if name:
            return f"{name}/{version}" if version else str(name)
    return None


def _action(a: Mapping[str, Any]) -> Action:
    agent = a.get("softwareAgent")
    if isinstance(agent, dict):
        name, version = agent.get("name"), agent.get("version")
        agent = f"{name} {version}" if name and version else name
    dst = a.get("digitalSourceType")
    return Action(
        action=str(a.get("action", "")),
        digital_source_type=str(dst) if dst else None,
        software_agent=str(agent) if agent else None,
        when=a.get("when"),
    )


def _soft_bindings(data: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    alg = str(data.get("alg", ""))
    for block in data.get("blocks", []) or []:
        value = block.get("value") if isinstance(block, dict) else None
        if isinstance(value, str):
            try:
                out.append((alg, base64.b64decode(value, validate=True)))
            except ValueError:
                continue
    return out


# -- signing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generation:
    """What made an AI output; goes into the manifest's actions and ``io.pyosi.generation``."""

    model: str
    model_version: str | None = None
    kind: Literal["generated", "edited"] = "generated"
    prompt: str | None = None
    #: Store the prompt itself; by default only its SHA-256 goes into the manifest.
    include_prompt: bool = False
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def digital_source_type(self) -> str:
        return sourcetype.uri(self.kind)

    def assertion(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": self.model,
            "model_version": self.model_version,
            "kind": self.kind,
            "time": self.created.isoformat(timespec="seconds"),
        }
        if self.prompt is not None:
            data["prompt_sha256"] = hashlib.sha256(self.prompt.encode("utf-8")).hexdigest()
            if self.include_prompt:
                data["prompt"] = self.prompt
        return data


def ai_manifest(
    generation: Generation, *, title: str, mime: str, content_id: bytes | None
) -> dict[str, Any]:
    """The manifest definition pyosi signs for an AI output."""
    from pyosi import __version__

    agent: dict[str, str] = {"name": generation.model}
    if generation.model_version:
        agent["version"] = generation.model_version
    assertions: list[dict[str, Any]] = [
        {
            "label": "c2pa.actions",
            "data": {
                "actions": [
                    {
                        "action": "c2pa.created",
                        "digitalSourceType": generation.digital_source_type,
                        "softwareAgent": agent,
                        "when": generation.created.isoformat(timespec="seconds"),
                    }
                ]
            },
        },
        {"label": GENERATION_LABEL, "data": generation.assertion()},
    ]
    if content_id is not None:
        assertions.append(
            {
                "label": "c2pa.soft-binding",
                "data": {
                    "alg": SOFT_BINDING_ALG,
                    "pad": [],
                    "blocks": [{"scope": {}, "value": base64.b64encode(content_id).decode()}],
                },
            }
        )
    return {
        "claim_generator_info": [{"name": "pyosi", "version": __version__}],
        "title": title,
        "format": mime,
        "assertions": assertions,
    }


def make_signer(identity: Identity) -> c2pa.Signer:
    alg = _ALGS.get(identity.alg)
    if alg is None:
        raise ProvenanceError(f"unsupported signing algorithm {identity.alg!r}")
    if identity.sign_callback is not None:
        chain = identity.chain_pem.decode("ascii", "replace")
        return c2pa.Signer.from_callback(identity.sign_callback, alg, chain, None)
    assert identity.key_pem is not None
    info = c2pa.C2paSignerInfo(alg, identity.chain_pem, identity.key_pem, None)
    return c2pa.Signer.from_info(info)


def sign(
    data: bytes,
    manifest: Mapping[str, Any],
    identity: Identity,
    *,
    thumbnail: bool = True,
) -> bytes:
    """``data`` with the signed manifest embedded; the MIME type is read from the bytes."""
    mime = sniff_mime(data[:HEAD_BYTES])
    if mime not in C2PA_MIMES:
        raise ProvenanceError("cannot sign: not a file format C2PA can embed into")
    ctx = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": thumbnail}}})
    out = io.BytesIO()
    try:
        with make_signer(identity) as signer, c2pa.Builder(dict(manifest), context=ctx) as b:
            b.sign(signer, mime, io.BytesIO(data), out)
    except c2pa.C2paError as e:
        raise ProvenanceError(f"C2PA signing failed: {_reason(e)}") from None
    return out.getvalue()
