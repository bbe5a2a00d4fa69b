"""Areas of the real-media benchmark: one module each (see bench/realmedia.py), and the
``Row`` each area returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One figure of an area: e.g. ``("WER fr", 0.062, "<= 0.15")``; ``value`` None means n/a."""

    name: str
    value: float | None
    goal: str = ""
    unit: str = ""

    def shown(self) -> str:
        if self.value is None:
            return "n/a"
        if self.unit == "%":
            return f"{100 * self.value:.1f} %"
        return f"{self.value:.3g}{(' ' + self.unit) if self.unit else ''}"
