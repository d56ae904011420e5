"""XMP: the packet pyosi writes, and reading source types the way other tools write them."""

from __future__ import annotations

import pytest

from pyosi.provenance import sourcetype
from pyosi.provenance.xmp import build_packet, parse_packet

DST = sourcetype.TRAINED_ALGORITHMIC_MEDIA


def test_round_trip() -> None:
    facts = parse_packet(build_packet(digital_source_type=DST, creator_tool="pyosi 0.1 (m)"))
    assert facts.digital_source_types == (DST,)
    assert facts.creator_tool == "pyosi 0.1 (m)"


def test_other_prefixes_and_attribute_form() -> None:
    # Same namespace under another prefix, written as an attribute (as Adobe tools often do).
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" '
        'xmlns:ext="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
        f'ext:DigitalSourceType="{DST}" photoshop:Credit="Made with Google AI"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    facts = parse_packet(packet)
    assert facts.digital_source_types == (DST,)
    assert facts.credit == "Made with Google AI"


def test_wrong_namespace_is_not_read() -> None:
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:Iptc4xmpExt="http://example.com/not-iptc/">'
        f"<Iptc4xmpExt:DigitalSourceType>{DST}</Iptc4xmpExt:DigitalSourceType>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    assert parse_packet(packet).digital_source_types == ()


@pytest.mark.parametrize(
    "packet",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta/>',
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed>",
        b"x" * (5 << 20),
    ],
    ids=["entities", "malformed", "huge"],
)
def test_hostile_packets_raise_value_error(packet: bytes) -> None:
    with pytest.raises((ValueError, SyntaxError)):
        parse_packet(packet)


@pytest.mark.parametrize(
    ("value", "meaning"),
    [
        (DST, "generated"),
        ("trainedAlgorithmicMedia", "none"),  # a bare term without the vocabulary prefix
        (sourcetype.IPTC_PREFIX + "compositeWithTrainedAlgorithmicMedia", "edited"),
        (sourcetype.IPTC_PREFIX + "algorithmicMedia", "none"),  # not AI, despite the substring
        (sourcetype.IPTC_PREFIX + "algorithmicallyEnhanced", "none"),
        (sourcetype.IPTC_PREFIX + "digitalCapture", "captured"),
        ("https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia", "generated"),
        (sourcetype.IPTC_PREFIX + "trainedAlgorithmicMediaX", "none"),
        ("http://example.com/trainedAlgorithmicMedia", "none"),
    ],
)
def test_source_type_meanings_are_exact(value: str, meaning: str) -> None:
    assert sourcetype.meaning(value) == meaning
