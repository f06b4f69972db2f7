"""A minimal Siemens CSA image header (private tag (0029,1010), format 'SV10').

dcm2niix reads from it what classic Siemens DICOM keeps nowhere else: the phase-encoding
polarity (``PhaseEncodingDirectionPositive``), slice times (``MosaicRefAcqTimes``), the readout
bandwidth (``BandwidthPerPixelPhaseEncode`` -> TotalReadoutTime) and diffusion ``B_value`` /
``DiffusionGradientDirection``. Layout (as nibabel's ``nicom.csareader`` parses it): 'SV10',
'\\4\\3\\2\\1', uint32 tag count, uint32 77; per tag a 64-byte name, int32 VM, 4-byte VR, int32
SyngoDT, int32 item count, int32 77; per item four int32 (length, length, 77, length) and the
value as text, NUL-padded to a multiple of 4 bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

CsaValue = int | float | str | Sequence[float] | Sequence[int]
# VR and SyngoDT code of the tags we write.
_TYPES: dict[str, tuple[str, int]] = {
    "PhaseEncodingDirectionPositive": ("IS", 6),
    "MosaicRefAcqTimes": ("FD", 4),
    "BandwidthPerPixelPhaseEncode": ("FD", 4),
    "B_value": ("IS", 6),
    "DiffusionGradientDirection": ("FD", 4),
    "SliceNormalVector": ("FD", 4),
    "DiffusionDirectionality": ("CS", 16),
    "SliceMeasurementDuration": ("DS", 3),
}


def _text(v: int | float | str) -> bytes:
    if isinstance(v, float):
        return f"{v:.8f}".encode()
    return str(v).encode()


def csa_header(tags: dict[str, CsaValue]) -> bytes:
    """Serialise ``tags`` (name -> scalar or list) into an SV10 CSA header."""
    out = bytearray(b"SV10\x04\x03\x02\x01" + struct.pack("<2I", len(tags), 77))
    for name, value in tags.items():
        vr, syngo = _TYPES.get(name, ("LO", 19))
        items: list[int | float | str] = list(value) if isinstance(value, (list, tuple)) else [value]  # type: ignore[list-item]
        out += struct.pack("<64si4s3i", name.encode(), len(items), vr.encode().ljust(4, b"\0"), syngo, len(items), 77)
        for item in items:
            data = _text(item) + b"\0"
            out += struct.pack("<4i", len(data), len(data), 77, len(data))
            out += data + b"\0" * (-len(data) % 4)
    return bytes(out)
