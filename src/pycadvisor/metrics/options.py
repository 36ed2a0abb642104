"""What the ``/metrics`` exposition emits: cAdvisor's flags plus pycadvisor's size controls."""

from __future__ import annotations

from dataclasses import dataclass, field

from pycadvisor.metrics.sets import MetricSets


def _csv(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


@dataclass(frozen=True, slots=True)
class NamePattern:
    """An allow-list: exact names, or prefixes written with a trailing ``*`` (``container_fs_*``)."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]

    @classmethod
    def parse(cls, items: tuple[str, ...]) -> NamePattern:
        exact = frozenset(i for i in items if not i.endswith("*"))
        prefixes = tuple(i[:-1] for i in items if i.endswith("*"))
        return cls(exact, prefixes)

    def matches(self, name: str) -> bool:
        return name in self.exact or (bool(self.prefixes) and name.startswith(self.prefixes))


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpositionOptions:
    """Exposition settings. Defaults are cAdvisor's; the ``no_empty_label_padding``,
    ``family_allowlist`` and ``label_allowlist`` options go beyond it."""

    metric_sets: MetricSets = field(default_factory=MetricSets.default)
    # --store_container_labels: every container label becomes container_label_<k>; when False only
    # those named in whitelisted_container_labels do (envs are exported either way, as in cAdvisor).
    store_container_labels: bool = True
    whitelisted_container_labels: tuple[str, ...] = ()
    # --env_metadata_whitelist: env-name prefixes exported as container_env_<k>. The collector applies
    # it when reading envs; None here trusts the snapshot's envs as they are, a tuple filters them again
    # (case-insensitively, as docker lower-cases the keys it stores).
    env_metadata_whitelist: tuple[str, ...] | None = None
    # Beyond cAdvisor: do not pad every series with label="" for labels other containers have.
    # Prometheus treats label="" as an absent label, so series identities do not change.
    no_empty_label_padding: bool = False
    # Beyond cAdvisor: emit only these families (exact names or "prefix*"); None = all.
    # container_scrape_error, machine_scrape_error and the pycadvisor_* self-metrics are always emitted.
    family_allowlist: tuple[str, ...] | None = None
    # Beyond cAdvisor: keep only these container base labels (exact Prometheus label names or
    # "prefix*", e.g. "container_label_com_docker_compose_*"); None = all. `id` is always kept.
    label_allowlist: tuple[str, ...] | None = None
    # Beyond cAdvisor: the kubelet's label set on container series (id, name, image, pod, namespace,
    # container; metrics/kubelet.py) instead of cAdvisor's, as the kubelet's /metrics/cadvisor serves them.
    kubelet_labels: bool = False
    # The Python client's process_* and python_* families (the Go client's process_*/go_* in cAdvisor).
    runtime_metrics: bool = True
    # pycadvisor_exposition_series: the number of series in the response.
    self_metrics: bool = True

    @classmethod
    def from_flags(
        cls,
        *,
        enable_metrics: str = "",
        disable_metrics: str | None = None,
        store_container_labels: bool = True,
        whitelisted_container_labels: str = "",
        env_metadata_whitelist: str | None = None,
        no_empty_label_padding: bool = False,
        family_allowlist: str = "",
        label_allowlist: str = "",
        kubelet_labels: bool = False,
    ) -> ExpositionOptions:
        """Build options from the flag strings (CSV as cAdvisor takes them; "" allow-lists = all).

        Raises ``ValueError('unsupported metric "<x>" specified')`` for an unknown metric set.
        """
        return cls(
            metric_sets=MetricSets.from_flags(enable_metrics, disable_metrics),
            store_container_labels=store_container_labels,
            whitelisted_container_labels=_csv(whitelisted_container_labels),
            env_metadata_whitelist=None if env_metadata_whitelist is None else _csv(env_metadata_whitelist),
            no_empty_label_padding=no_empty_label_padding,
            family_allowlist=_csv(family_allowlist) or None,
            label_allowlist=_csv(label_allowlist) or None,
            kubelet_labels=kubelet_labels,
        )
