"""How combed a picture is: the mark of two fields from different moments woven together."""

from __future__ import annotations

import numpy as np


def comb_score(gray: np.ndarray, where: np.ndarray | None = None) -> float:
    """log2 of detail between neighbouring lines (other field) over detail two lines apart
    (same field), where given: about -1 for a progressive picture, above 0 when combed."""
    mid = gray[2:-2]
    inter = np.abs(mid - (gray[1:-3] + gray[3:-1]) / 2)
    intra = np.abs(mid - (gray[:-4] + gray[4:]) / 2)
    if where is not None:
        mask = where[2:-2]
        inter, intra = inter[mask], intra[mask]
    return float(np.log2((inter.mean() + 0.5) / (intra.mean() + 0.5)))
