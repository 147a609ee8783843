"""Numbers as the editor shows them."""

from __future__ import annotations


def size_text(count: float) -> str:
    """Bytes in the largest unit up to GB: "512 B", "3.4 MB"."""
    units = ["B", "KB", "MB", "GB"]
    while count >= 1024 and len(units) > 1:
        count /= 1024
        units.pop(0)
    return f"{count:.0f} B" if units[0] == "B" else f"{count:.1f} {units[0]}"
