"""Container base labels (``id``, ``name``, ``image``, ``container_label_*``, ``container_env_*``).

Follows ``DefaultContainerLabels``/``BaseContainerLabels`` and ``collectContainersInfo`` of
``lib/metrics/prometheus.go``: the label *names* of a scrape are the union over all containers, every
series carries every name (``label=""`` when a container lacks it), names are sanitized and on a
sanitizing collision the first raw name wins (Go map order there, sorted raw names here).

Rendering label strings is the bulk of the exposition's cost, so each container's rendered labels are
cached while its spec object, aliases and the scrape's label layout stay the same; per family the
extra labels (``cpu``, ``device``, ...) are slotted between the cached pieces of a template in name order.

With ``kubelet_labels`` (``-kubelet_compatible``) the base labels are the kubelet's six instead
(:mod:`pycadvisor.metrics.kubelet`); a pod-level cgroup's pod comes from the other containers of the scrape,
so its cached labels are also keyed by that pod.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from pycadvisor.metrics.kubelet import Pod, kubelet_labels, pod_of, pods_by_uid
from pycadvisor.metrics.options import ExpositionOptions, NamePattern
from pycadvisor.metrics.source import ContainerSnapshot
from pycadvisor.metrics.textformat import escape_label_value, render_labels, sanitize_label_name

LABEL_ID = "id"
LABEL_NAME = "name"
LABEL_IMAGE = "image"
CONTAINER_LABEL_PREFIX = "container_label_"
CONTAINER_ENV_PREFIX = "container_env_"


class LabelPolicy:
    """Which raw labels a container gets (``--store_container_labels``, ``--whitelisted_container_labels``,
    ``--env_metadata_whitelist``)."""

    def __init__(self, options: ExpositionOptions) -> None:
        self.kubelet = options.kubelet_labels
        self._store_all = options.store_container_labels
        self._whitelist = frozenset(options.whitelisted_container_labels)
        env = options.env_metadata_whitelist
        self._env_prefixes: tuple[str, ...] | None = None if env is None else tuple(p.lower() for p in env if p)

    def raw_labels(self, snap: ContainerSnapshot, pod: Pod | None = None) -> dict[str, str]:
        """Raw (unsanitized) label name -> value for one container (``pod``: a pod-level cgroup's pod)."""
        if self.kubelet:
            return kubelet_labels(snap, pod)
        spec = snap.spec
        out = {LABEL_ID: snap.name}
        if snap.aliases:
            out[LABEL_NAME] = snap.aliases[0]
        if spec.image:
            out[LABEL_IMAGE] = spec.image
        if spec.labels:
            if self._store_all:
                for k, v in spec.labels.items():
                    out[CONTAINER_LABEL_PREFIX + k] = v
            else:
                for k, v in spec.labels.items():
                    if k in self._whitelist:
                        out[CONTAINER_LABEL_PREFIX + k] = v
        if spec.envs:
            prefixes = self._env_prefixes
            for k, v in spec.envs.items():
                if prefixes is None or k.lower().startswith(prefixes):
                    out[CONTAINER_ENV_PREFIX + k] = v
        return out


@dataclass(frozen=True, slots=True, eq=False)
class Layout:
    """The label names of one scrape: sanitized names sorted, and the raw name feeding each."""

    names: tuple[str, ...]
    raws: tuple[str, ...]

    def split_points(self, extra: tuple[str, ...]) -> tuple[int, ...]:
        """Where each extra label name falls among the base names."""
        return tuple(bisect_left(self.names, e) for e in extra)


def make_layout(raw_names: frozenset[str], allow: NamePattern | None) -> Layout:
    """Sanitize and sort the union of raw label names; first raw name (sorted) wins a collision."""
    chosen: dict[str, str] = {}
    for raw in sorted(raw_names):
        name = sanitize_label_name(raw)
        if name in chosen:
            continue
        if allow is not None and name != LABEL_ID and not allow.matches(name):
            continue
        chosen[name] = raw
    names = tuple(sorted(chosen))
    return Layout(names, tuple(chosen[n] for n in names))


@dataclass(frozen=True, slots=True)
class Template:
    """A family's label string for one container, open where the extra label values go.

    ``segs`` are the literal pieces between the (escaped) extra values: ``segs[0] + v0 + segs[1] + ...``.
    """

    segs: tuple[str, ...]


class ContainerLabels:
    """One container's labels, rendered for a layout and cached."""

    __slots__ = (
        "_templates", "aliases", "base", "last_used", "layout", "pad", "pairs", "pod", "raw", "spec", "values",
    )  # fmt: skip

    def __init__(self, snap: ContainerSnapshot, raw: dict[str, str], pod: Pod | None = None) -> None:
        self.spec = snap.spec
        self.aliases = snap.aliases
        self.pod = pod
        self.raw = raw
        self.layout: Layout | None = None
        self.pad = True
        self.values: tuple[str, ...] = ()  # padded values in layout order: the container's sort key
        self.pairs: tuple[tuple[str, str], ...] = ()  # the (name, value) pairs actually emitted
        self.base = ""  # '{a="x",id="/y"}'
        self.last_used = 0
        self._templates: dict[tuple[str, ...], Template] = {}

    def is_for(self, snap: ContainerSnapshot, pod: Pod | None = None) -> bool:
        return self.spec is snap.spec and self.aliases == snap.aliases and self.pod == pod

    def bind(self, layout: Layout, pad: bool) -> None:
        """Render for ``layout``; a no-op when already rendered for it."""
        if self.layout is layout and self.pad == pad:
            return
        raw = self.raw
        self.values = tuple(raw.get(r, "") for r in layout.raws)
        self.pairs = tuple((n, v) for n, v in zip(layout.names, self.values, strict=True) if pad or v != "")
        self.base = render_labels(self.pairs)
        self.layout = layout
        self.pad = pad
        self._templates = {}

    def template(self, extra: tuple[str, ...]) -> Template:
        """The label template for a family whose (sorted) extra labels are ``extra``."""
        t = self._templates.get(extra)
        if t is None:
            t = self._make_template(extra)
            self._templates[extra] = t
        return t

    def _make_template(self, extra: tuple[str, ...]) -> Template:
        segs: list[str] = []
        cur = "{"
        sep = ""
        pairs = self.pairs
        i = 0
        for e in extra:
            while i < len(pairs) and pairs[i][0] < e:
                k, v = pairs[i]
                cur += f'{sep}{k}="{escape_label_value(v)}"'
                sep = ","
                i += 1
            segs.append(f'{cur}{sep}{e}="')
            cur, sep = '"', ","
        for k, v in pairs[i:]:
            cur += f'{sep}{k}="{escape_label_value(v)}"'
            sep = ","
        segs.append(cur + "}")
        return Template(tuple(segs))


class LabelCache:
    """Per-container label rendering shared across scrapes (entries unused for 16 scrapes are dropped)."""

    _EVICT_AFTER = 16

    def __init__(self, options: ExpositionOptions) -> None:
        self._policy = LabelPolicy(options)
        self._allow = None if options.label_allowlist is None else NamePattern.parse(options.label_allowlist)
        self._pad = not options.no_empty_label_padding
        self._entries: dict[str, ContainerLabels] = {}
        self._layouts: dict[frozenset[str], Layout] = {}
        self._scrapes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def labels_for(self, snapshots: Sequence[ContainerSnapshot]) -> list[ContainerLabels]:
        """Bound labels of each snapshot, in the order given."""
        self._scrapes += 1
        now = self._scrapes
        entries = self._entries
        found: list[ContainerLabels] = []
        raw_names: set[str] = set()
        policy = self._policy
        pods = pods_by_uid(snapshots) if policy.kubelet else None
        for snap in snapshots:
            e = entries.get(snap.name)
            pod = None if pods is None else pod_of(snap, pods)
            if e is None or not e.is_for(snap, pod):
                e = ContainerLabels(snap, policy.raw_labels(snap, pod), pod)
                entries[snap.name] = e
            e.last_used = now
            raw_names.update(e.raw)
            found.append(e)
        key = frozenset(raw_names)
        layout = self._layouts.get(key)
        if layout is None:
            if len(self._layouts) > 8:
                self._layouts.clear()
            layout = make_layout(key, self._allow)
            self._layouts[key] = layout
        pad = self._pad
        for e in found:
            e.bind(layout, pad)
        if len(entries) > len(found):
            stale = [n for n, e in entries.items() if now - e.last_used >= self._EVICT_AFTER]
            for n in stale:
                del entries[n]
        return found
