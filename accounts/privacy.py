"""Showing people's names without showing them whole (door scanners, staff feeds)."""

from __future__ import annotations


def mask_name(name: str) -> str:
    """김민수 → 김*수, 김수 → 김*, Jane Doe → J******e: the first and last letters, stars between."""
    name = name.strip()
    if len(name) <= 1:
        return name or "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
