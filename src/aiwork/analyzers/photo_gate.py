"""The photo gate: colour and edge statistics that tell a photograph from graphics (flat
colours, title and text cards, logos, test patterns), on which an ImageNet classifier gives
junk; :mod:`aiwork.analyzers.tags` applies it before classifying (the thresholds are its
options, described there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["GateStats", "gate_stats", "trim_bars"]


@dataclass(frozen=True)
class GateStats:
    flat: float  # fraction of pixels with gradient magnitude < 4
    edge: float  # fraction of pixels with gradient magnitude > 40
    entropy: float  # bits, 64-bin luma histogram

    def to_json(self) -> dict[str, float]:
        return {"flat_fraction": round(self.flat, 3), "edge_fraction": round(self.edge, 3),
                "luma_entropy": round(self.entropy, 3)}


def trim_bars(rgb: NDArray[np.uint8], dark: int = 32, spread: int = 16) -> NDArray[np.uint8]:
    """``rgb`` without dark uniform borders (letterbox and pillarbox bars); at most 40 % of
    each dimension is trimmed from each side."""
    grey = rgb.astype(np.int16).mean(axis=2)
    height, width = grey.shape

    def uniform(lines: NDArray[np.float64]) -> NDArray[np.bool_]:
        flat: NDArray[np.bool_] = ((lines.max(axis=1) - lines.min(axis=1) < spread)
                                   & (lines.mean(axis=1) < dark))
        return flat

    rows, cols = uniform(grey), uniform(grey.T)

    def run(flags: NDArray[np.bool_], limit: int) -> int:
        count = 0
        while count < limit and flags[count]:
            count += 1
        return count

    top, bottom = run(rows, int(height * 0.4)), run(rows[::-1], int(height * 0.4))
    left, right = run(cols, int(width * 0.4)), run(cols[::-1], int(width * 0.4))
    return rgb[top:height - bottom, left:width - right]


def gate_stats(rgb: NDArray[np.uint8]) -> GateStats:
    """Colour/edge statistics of a frame (bars trimmed), the photo gate's input."""
    import cv2

    picture = trim_bars(rgb)
    height, width = picture.shape[:2]
    scale = 160 / max(height, width)
    small = cv2.resize(picture, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    grey: NDArray[np.uint8] = np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    magnitude = np.hypot(gx, gy)
    counts = np.bincount((grey >> 2).ravel(), minlength=64).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: no "-0.0" for a flat frame
    return GateStats(float((magnitude < 4).mean()), float((magnitude > 40).mean()), entropy)
