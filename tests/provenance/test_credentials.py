"""Content Credentials: sign and verify round trips, tampering, trust, and c2pa-rs's own samples."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from pyosi.errors import ProvenanceError
from pyosi.media.sniff import sniff_mime
from pyosi.provenance import sourcetype
from pyosi.provenance.credentials import (
    SOFT_BINDING_ALG,
    Generation,
    ai_manifest,
    read_credentials,
    sign,
    trust_anchors,
)
from pyosi.provenance.identity import Identity

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "c2pa-rs"
CONTENT_ID = bytes.fromhex("0011223344556677")


def _image_bytes(fmt: str, size: tuple[int, int] = (96, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(buf, fmt)
    return buf.getvalue()


def _signed(identity: Identity, fmt: str = "JPEG", kind: str = "generated") -> bytes:
    gen = Generation(model="TestDiffusion", model_version="3.0", kind=kind, prompt="a red fox")  # type: ignore[arg-type]
    mime = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff"}[
        fmt
    ]
    manifest = ai_manifest(gen, title=f"x.{fmt.lower()}", mime=mime, content_id=CONTENT_ID)
    return sign(_image_bytes(fmt), manifest, identity, thumbnail=False)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_round_trip_trusted_with_own_root(identity: Identity, root_pem: str, fmt: str) -> None:
    creds = read_credentials(_signed(identity, fmt), anchors=root_pem)
    assert creds is not None
    assert (creds.state, creds.failures) == ("Trusted", ())
    assert creds.claim_generator is not None and creds.claim_generator.startswith("pyosi/")
    assert creds.digital_source_types == (sourcetype.TRAINED_ALGORITHMIC_MEDIA,)
    assert [a.action for a in creds.actions] == ["c2pa.created"]
    assert creds.software_agents == ("TestDiffusion 3.0",)
    assert creds.pyosi_payload == CONTENT_ID
    assert creds.signer is not None and "pyosi tests" in creds.signer
    gen = creds.generation
    assert gen is not None and gen["model"] == "TestDiffusion" and "prompt" not in gen
    assert len(gen["prompt_sha256"]) == 64


def test_prompt_is_stored_only_when_asked(identity: Identity) -> None:
    gen = Generation(model="m", prompt="secret prompt", include_prompt=True)
    manifest = ai_manifest(gen, title="x.jpg", mime="image/jpeg", content_id=None)
    creds = read_credentials(sign(_image_bytes("JPEG"), manifest, identity), anchors="")
    assert creds is not None and creds.generation is not None
    assert creds.generation["prompt"] == "secret prompt"
    assert creds.pyosi_payload is None  # no soft binding without a content id


def test_edited_kind_declares_composite(identity: Identity) -> None:
    creds = read_credentials(_signed(identity, kind="edited"), anchors="")
    assert creds is not None
    assert creds.digital_source_types == (sourcetype.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,)


def test_soft_binding_assertion_carries_the_payload(identity: Identity) -> None:
    creds = read_credentials(_signed(identity), anchors="")
    assert creds is not None
    assert creds.soft_bindings == ((SOFT_BINDING_ALG, CONTENT_ID),)
    assert creds.summary()["soft_bindings"][0]["value"] == base64.b64encode(CONTENT_ID).decode()


def test_untrusted_signer_is_valid_not_trusted(identity: Identity) -> None:
    creds = read_credentials(_signed(identity), anchors="")
    assert creds is not None
    assert (creds.state, creds.failures) == ("Valid", ("signingCredential.untrusted",))


def test_one_pixel_byte_changed_is_invalid(identity: Identity, root_pem: str) -> None:
    data = bytearray(_signed(identity, "JPEG"))
    sos = data.rfind(b"\xff\xda")  # start of scan: entropy-coded pixels follow
    data[sos + 40] ^= 0x01
    creds = read_credentials(bytes(data), anchors=root_pem)
    assert creds is not None
    assert creds.state == "Invalid"
    assert "assertion.dataHash.mismatch" in creds.failures


def test_png_pixel_byte_changed_is_invalid(identity: Identity, root_pem: str) -> None:
    data = bytearray(_signed(identity, "PNG"))
    idat = data.find(b"IDAT")
    data[idat + 10] ^= 0x01
    creds = read_credentials(bytes(data), anchors=root_pem)
    assert creds is not None and creds.state == "Invalid"
    assert "assertion.dataHash.mismatch" in creds.failures


def test_appended_bytes_are_invalid(identity: Identity, root_pem: str) -> None:
    creds = read_credentials(_signed(identity) + b"tail", anchors=root_pem)
    assert creds is not None and creds.state == "Invalid"
    assert "assertion.dataHash.mismatch" in creds.failures


def test_resaved_file_has_no_credentials(identity: Identity) -> None:
    im = Image.open(io.BytesIO(_signed(identity)))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    assert read_credentials(buf.getvalue(), anchors="") is None


def test_unsigned_and_non_media_have_none() -> None:
    assert read_credentials(_image_bytes("PNG"), anchors="") is None
    assert read_credentials(b"plain text, not media", anchors="") is None


def test_trust_anchors_include_own_root_and_trust_dir(
    data_dir: Path, identity_dir: Path, tmp_path: Path
) -> None:
    assert trust_anchors() == "\n"  # a fresh data directory trusts nothing
    (data_dir / "trust").mkdir()
    (data_dir / "trust" / "partner.pem").write_text((identity_dir / "dev-root-ca.pem").read_text())
    assert trust_anchors().count("BEGIN CERTIFICATE") == 1
    bad = tmp_path / "missing.pem"
    with pytest.raises(ProvenanceError, match="cannot read trust anchors"):
        trust_anchors([bad])


def test_sign_refuses_non_media(identity: Identity) -> None:
    with pytest.raises(ProvenanceError, match="cannot sign"):
        sign(b"not an image", {"assertions": []}, identity)


def test_callback_signer(identity_dir: Path, root_pem: str) -> None:
    # A KMS/HSM signs through a callback: the private key stays outside the Identity.
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = serialization.load_pem_private_key(
        (identity_dir / "signer.key").read_bytes(), password=None
    )
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    calls: list[int] = []

    def kms_sign(data: bytes) -> bytes:
        calls.append(len(data))
        return private.sign(data, ec.ECDSA(hashes.SHA256()))

    ident = Identity.from_callback(
        (identity_dir / "signer-chain.pem").read_bytes(), "es256", kms_sign
    )
    manifest = ai_manifest(Generation(model="m"), title="x.jpg", mime="image/jpeg", content_id=None)
    creds = read_credentials(sign(_image_bytes("JPEG"), manifest, ident), anchors=root_pem)
    assert calls and creds is not None and creds.state == "Trusted"


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
        (b"RIFF\0\0\0\0WAVEfmt ", "audio/wav"),
        (b"\0\0\0\x18ftypmp42", "video/mp4"),
        (b"\0\0\0\x18ftypavif", "image/avif"),
        (b"%PDF-1.7", "application/pdf"),
        (b"hello", None),
    ],
)
def test_sniff_mime(head: bytes, mime: str | None) -> None:
    assert sniff_mime(head) == mime


# -- c2pa-rs's own samples: exactly the outcomes in ../shared/fixtures/c2pa-rs/README.md --------

# file: (state by default, failure code by default, state with the test anchors)
OUTCOMES = {
    "C.jpg": ("Valid", "signingCredential.untrusted", "Trusted"),
    "CA.jpg": ("Valid", "signingCredential.untrusted", "Trusted"),
    "CACA.jpg": ("Valid", "signingCredential.untrusted", "Trusted"),
    "CA_ct.jpg": ("Valid", "signingCredential.untrusted", "Trusted"),
    "XCA.jpg": ("Invalid", "assertion.dataHash.mismatch", "Invalid"),
    "E-sig-CA.jpg": ("Invalid", "claimSignature.mismatch", "Invalid"),
    "video1.mp4": ("Valid", "signingCredential.untrusted", "Valid"),
}
NO_MANIFEST = [
    "video1_no_manifest.mp4",
    "sample1.png",
    "sample1.webp",
    "libpng-test.png",
    "riff_bomb_1000.wav",
    "id3v23_compression_underflow.mp3",
]
PARSE_ERRORS = {
    "tiff_poc.tiff": "TIFF file has too many subfiles",
    "sample3.invalid.wav": "Invalid RIFF format",
}

needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures missing")


@needs_fixtures
@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_c2pa_rs_samples(name: str) -> None:
    state, code, trusted_state = OUTCOMES[name]
    data = (FIXTURES / name).read_bytes()
    creds = read_credentials(data, anchors="")  # default trust: test roots never trusted
    assert creds is not None
    assert creds.state == state and code in creds.failures
    assert creds.signer == "C2PA Signer" and creds.claim_generator
    assert creds.actions
    test_roots = (FIXTURES / "test_cert_root_bundle.pem").read_text()
    with_test_roots = read_credentials(data, anchors=test_roots)
    assert with_test_roots is not None and with_test_roots.state == trusted_state
    if trusted_state == "Trusted":
        assert with_test_roots.failures == ()


@needs_fixtures
def test_edited_samples_report_their_ingredients() -> None:
    creds = read_credentials((FIXTURES / "CA.jpg").read_bytes(), anchors="")
    assert creds is not None
    assert [a.action for a in creds.actions] == ["c2pa.opened", "c2pa.color_adjustments"]
    assert len(creds.ingredients) == 1 and creds.ingredients[0].relationship == "parentOf"


@needs_fixtures
@pytest.mark.parametrize("name", NO_MANIFEST)
def test_c2pa_rs_samples_without_manifest(name: str) -> None:
    assert read_credentials((FIXTURES / name).read_bytes(), anchors="") is None


@needs_fixtures
@pytest.mark.parametrize("name", sorted(PARSE_ERRORS))
def test_c2pa_rs_hostile_samples_give_clear_errors(name: str) -> None:
    with pytest.raises(ProvenanceError, match=PARSE_ERRORS[name]):
        read_credentials((FIXTURES / name).read_bytes(), anchors="")


@needs_fixtures
def test_default_trust_never_includes_c2pa_rs_test_roots() -> None:
    assert "BEGIN CERTIFICATE" not in trust_anchors()
    creds = read_credentials((FIXTURES / "C.jpg").read_bytes())
    assert creds is not None and creds.state == "Valid"


@needs_fixtures
def test_hostile_samples_stay_within_memory() -> None:
    # c2pa-rs runs natively, out of tracemalloc's sight: read every hostile sample in a child
    # process whose address space is capped, so a runaway allocation fails instead of swapping.
    import subprocess
    import sys

    names = [*PARSE_ERRORS, "riff_bomb_1000.wav", "id3v23_compression_underflow.mp3"]
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))\n"
        "from pathlib import Path\n"
        "from pyosi.errors import ProvenanceError\n"
        "from pyosi.provenance.credentials import read_credentials\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        read_credentials(Path(name).read_bytes(), anchors='')\n"
        "    except ProvenanceError:\n"
        "        pass\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *names],
        cwd=FIXTURES,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
