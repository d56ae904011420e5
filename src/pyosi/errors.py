"""Every error pyosi raises on purpose derives from :class:`PyosiError`.

    PyosiError
    ├── MediaError                  a file could not be used as media
    │   ├── UnsupportedMediaError   not a format pyosi reads (or not media at all)
    │   ├── CorruptMediaError       truncated or damaged data
    │   ├── MediaTooLargeError      dimensions or pixel count beyond the configured limit
    │   └── ImageTooSmallError      too small to carry (or to find) a watermark
    ├── InvalidKeyError             a key file or key bytes that are not a valid pyosi key
    ├── InvalidPayloadError         a payload that is not exactly 8 bytes
    ├── IdentityError               no usable C2PA signing identity (certificate, key, callback)
    ├── ProvenanceError             Content Credentials could not be written or read
    └── OutputError                 an output cannot be written (or would overwrite the input)

The CLI maps each class to an exit code (see ``pyosi.cli``); messages say what to do next.
"""

from __future__ import annotations


class PyosiError(Exception):
    """Root of every deliberate pyosi error."""

    exit_code: int = 6


class MediaError(PyosiError):
    """A file or array could not be used as media."""

    exit_code = 3


class UnsupportedMediaError(MediaError):
    """Not a format pyosi reads, or not media at all."""


class CorruptMediaError(MediaError):
    """Truncated or damaged media data."""


class MediaTooLargeError(MediaError):
    """Dimensions or pixel count beyond the configured limit (decompression-bomb guard)."""


class ImageTooSmallError(MediaError):
    """Too small to carry a watermark."""


class InvalidKeyError(PyosiError):
    """Key bytes or a key file that are not a valid pyosi watermark key."""

    exit_code = 4


class InvalidPayloadError(PyosiError, ValueError):
    """A payload that is not exactly 8 bytes."""

    exit_code = 2


class IdentityError(PyosiError):
    """No usable signing identity: missing, unreadable or mismatched certificate and key."""

    exit_code = 4


class ProvenanceError(PyosiError):
    """Content Credentials could not be written (or a manifest store could not be used)."""


class OutputError(PyosiError):
    """An output could not be written, or writing it would overwrite the input."""

    exit_code = 5
