"""Reading /metrics the way Prometheus does: prometheus-client's own parser."""

from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One scrape's samples, by sample name and labels."""

    def __init__(self, text: str):
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples = [sample for family in self.families.values() for sample in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called `name` whose labels include `labels` (0 when none)."""
        return sum(
            sample.value
            for sample in self.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
        )

    def has(self, name: str, **labels: str) -> bool:
        return any(
            sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()) for sample in self.samples
        )

    def label_values(self) -> set[str]:
        return {value for sample in self.samples for value in sample.labels.values()}
