"""Reading a ``/metrics`` answer in tests: samples by name and labels, with sums."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """The samples of one scrape (Prometheus text format), by name and labels."""

    samples: tuple[tuple[str, Mapping[str, str], float], ...]
    types: Mapping[str, str]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        """Parse an exposition; every sample and each family's type are kept."""
        samples: list[tuple[str, Mapping[str, str], float]] = []
        types: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            types[family.name] = family.type
            samples += [(s.name, dict(s.labels), s.value) for s in family.samples]
        return cls(tuple(samples), types)

    def total(self, name: str, **labels: str) -> float:
        """The sum of the ``name`` samples whose labels include ``labels`` (0 if none)."""
        return sum(
            value
            for sample, have, value in self.samples
            if sample == name and all(have.get(k) == v for k, v in labels.items())
        )

    def by(self, name: str, label: str, **labels: str) -> dict[str, float]:
        """``total(name, **labels)`` per value of ``label``, zeros left out."""
        values = {
            have[label] for sample, have, _ in self.samples if sample == name and label in have
        }
        found = {v: self.total(name, **labels, **{label: v}) for v in values}
        return {v: n for v, n in found.items() if n}

    def names(self) -> set[str]:
        """Every sample name."""
        return {sample for sample, _, _ in self.samples}
