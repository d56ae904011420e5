"""Every detector behind one interface (see :mod:`pyosi.signals.base`) and their registry.

from pyosi.signals import SignalType, register, signal_types
"""

from pyosi.signals.base import (
    Basis,
    MediaType,
    ScanContext,
    Signal,
    SignalType,
    Subject,
    Verdict,
)
from pyosi.signals.registry import register, signal_types

__all__ = [
    "Basis",
    "MediaType",
    "ScanContext",
    "Signal",
    "SignalType",
    "Subject",
    "Verdict",
    "register",
    "signal_types",
]
