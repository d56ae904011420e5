"""The one interface every detector implements, and the objects they share.

A detector (a :class:`SignalType`) has a name, the media types it reads, and ``detect``, which
looks at a :class:`Subject` (one file, decoded lazily and once for all detectors) and returns
:class:`Signal` objects. Each signal says what it concluded (``verdict``), how sure it is, and what
it rests on (``basis``: metadata, watermark, fingerprint or forensic, as the EU Code of Practice
asks), with human-readable evidence. python-threatexchange's SignalType is the model.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from pyosi.errors import MediaError
from pyosi.media import LoadedImage, load_image
from pyosi.media.metadata import FileMetadata, read_metadata
from pyosi.media.sniff import HEAD_BYTES, sniff_mime

if TYPE_CHECKING:
    from pyosi.provenance.store import ManifestStore
    from pyosi.watermark import WatermarkKey


class Verdict(StrEnum):
    GENERATED = "generated"
    EDITED = "edited"
    CAPTURED = "captured"
    NONE = "none"


class Basis(StrEnum):
    METADATA = "metadata"
    WATERMARK = "watermark"
    FINGERPRINT = "fingerprint"
    FORENSIC = "forensic"


class MediaType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    OTHER = "other"


@dataclass(frozen=True)
class Signal:
    """One finding of one detector."""

    detector: str
    kind: str  # what was found, e.g. "c2pa.manifest", "png.a1111-parameters"
    verdict: Verdict
    confidence: float  # 0..1: how sure this signal alone makes the verdict
    basis: Basis
    evidence: str  # one human-readable sentence
    details: Mapping[str, Any] = field(default_factory=dict)
    #: The verdict should go to a person before a label goes out (ambiguous or tampered source).
    needs_review: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "kind": self.kind,
            "verdict": self.verdict.value,
            "confidence": round(self.confidence, 4),
            "basis": self.basis.value,
            "evidence": self.evidence,
            "needs_review": self.needs_review,
            "details": dict(self.details),
        }


@dataclass
class ScanContext:
    """What detectors may need besides the file: keys, trust anchors, the manifest store."""

    keys: Sequence[WatermarkKey] = ()
    anchors: str | None = None  # PEM bundle; None = the default trust (see credentials)
    store: ManifestStore | None = None


class Subject:
    """One file under examination; each representation is computed once and shared."""

    def __init__(self, data: bytes, path: Path | None = None) -> None:
        self.data = data
        self.path = path
        self.mime = sniff_mime(data[:HEAD_BYTES])

    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @functools.cached_property
    def media_type(self) -> MediaType:
        if self.mime is None:
            return MediaType.IMAGE if self._pillow_format else MediaType.OTHER
        major = self.mime.split("/")[0]
        if self.mime == "application/pdf":
            return MediaType.DOCUMENT
        return MediaType(major) if major in {"image", "video", "audio"} else MediaType.OTHER

    @functools.cached_property
    def _pillow_format(self) -> str | None:
        return self.metadata.format

    @functools.cached_property
    def metadata(self) -> FileMetadata:
        """Text chunks, EXIF and XMP as stored (no pixels decoded)."""
        return read_metadata(self.data)

    @functools.cached_property
    def loaded(self) -> LoadedImage:
        """The decoded image (raises a MediaError for damaged or hostile files)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Pillow's advice on odd files is not for users
                return load_image(self.data)
        except MediaError as e:
            if self.path is None:
                raise
            raise type(e)(str(e).replace("<bytes>", str(self.path))) from None

    @functools.cached_property
    def rgb(self) -> np.ndarray[Any, np.dtype[np.uint8]]:
        """8-bit RGB pixels (alpha dropped, EXIF orientation applied)."""
        im = self.loaded.image
        if im.mode != "RGB":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                im = im.convert("RGB")
        return np.asarray(im)


class SignalType(ABC):
    """A detector. Subclasses set ``name`` and ``media_types`` and implement ``detect``."""

    name: ClassVar[str]
    media_types: ClassVar[frozenset[MediaType]]
    #: One line for ``pyosi signals`` and the docs.
    description: ClassVar[str] = ""

    def applies_to(self, subject: Subject) -> bool:
        return subject.media_type in self.media_types

    @abstractmethod
    def detect(self, subject: Subject, context: ScanContext) -> list[Signal]:
        """Signals found in ``subject`` (empty when none). May raise PyosiError on bad input."""
