"""Which runtime a cgroup name belongs to, and the container id in it: pure string rules, no I/O.

Each rule follows the cgroup layouts the runtimes create and the cAdvisor factory that claims them
(``container/<runtime>/factory.go`` ``CanHandleAndAccept``); where a rule is stricter or wider than
cAdvisor's it says so.
They run once per new cgroup, so they use plain string operations rather than regexps.

- Podman (cAdvisor ``container/podman/factory.go``): ``/libpod_parent/libpod-<id>`` (cgroupfs
  manager), ``/machine.slice/libpod-<id>.scope`` (systemd manager), rootless
  ``/user.slice/user-<uid>.slice/user@<uid>.service/user.slice/libpod-<id>.scope``. On cgroup v2
  crun moves the payload into a ``container`` child of the scope; cAdvisor strips that trailing
  ``/container`` and names the child like its scope. ``libpod-conmon-<id>.scope`` holds conmon,
  not the container, and is left alone (cAdvisor's 64-character rule names it like the container).
- containerd (cAdvisor ``container/containerd/factory.go``): CRI ``…/cri-containerd-<id>.scope``
  (systemd driver) and ``/kubepods/<qos>/pod<uid>/<id>`` (cgroupfs driver), plus ``/<namespace>/<id>``,
  the default of ``ctr``/nerdctl for the configured namespace, whose ids need not be 64 characters
  (cAdvisor misses those).
- CRI-O (cAdvisor ``container/crio/factory.go``): basename starting ``crio`` holding a 64-character
  id, ``crio-<id>.scope`` (systemd) or ``crio-<id>`` (cgroupfs); ``crio-conmon-<id>`` is not a
  container.
"""

from __future__ import annotations

ID_LEN = 64
# cAdvisor's id regexp is ``([a-z0-9]{64})``: wider than the hex the runtimes generate.
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
# Characters of a containerd identifier (containerd ``identifiers.Validate``: ``[A-Za-z0-9]+([._-][A-Za-z0-9]+)*``).
_CONTAINERD_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_CONTAINERD_ID_MAX = 76

PODMAN_SUBGROUP = "container"  # cAdvisor ``containerBaseName``


def is_full_id(text: str) -> bool:
    """Exactly 64 characters of ``[a-z0-9]`` (string methods run in C: no per-character Python loop)."""
    return len(text) == ID_LEN and text.isascii() and text.isalnum() and text.lower() == text


def find_id(text: str) -> str | None:
    """The first run of 64 ``[a-z0-9]`` characters in ``text`` (leftmost match of ``([a-z0-9]{64})``)."""
    if len(text) < ID_LEN:
        return None
    run_start = -1
    for i, ch in enumerate(text):
        if ch in _ID_CHARS:
            if run_start < 0:
                run_start = i
            if i - run_start + 1 == ID_LEN:
                return text[run_start : i + 1]
        else:
            run_start = -1
    return None


def _split(cgroup_name: str) -> tuple[str, str]:
    """(parent, basename) of a cgroup name."""
    parent, _, base = cgroup_name.rpartition("/")
    return parent, base


# ---------------------------------------------------------------- Docker

_OTHER_RUNTIMES = ("libpod-", "cri-containerd-", "crio")


def docker_id_from_cgroup(cgroup_name: str) -> str | None:
    """The container id in a cgroup name, or None when the name is not a Docker container's.

    cAdvisor ``IsContainerName``/``ContainerNameToId``: names ending ``.mount`` are systemd's;
    otherwise the first run of 64 ``[a-z0-9]`` in the basename (leftmost match of the regexp
    ``([a-z0-9]{64})``) is the id. Narrower than cAdvisor: basenames of other runtimes' layouts
    (``libpod-…`` Podman, ``cri-containerd-…`` containerd, ``crio…`` CRI-O) are never Docker's;
    cAdvisor's docker factory only rejects them after a failed inspect.
    """
    if cgroup_name.endswith(".mount"):
        return None
    base = cgroup_name.rpartition("/")[2]
    if is_full_id(base):  # cgroupfs driver: /docker/<id>
        return base
    if base.startswith("docker-") and base.endswith(".scope"):  # systemd driver
        core = base[len("docker-") : -len(".scope")]
        if is_full_id(core):
            return core
    if base.startswith(_OTHER_RUNTIMES):
        return None
    return find_id(base)


# ---------------------------------------------------------------- podman


def podman_id(cgroup_name: str) -> tuple[str, bool] | None:
    """``(id, is_subgroup)`` of a Podman container cgroup, else None.

    ``is_subgroup`` is True for the ``container`` child crun creates inside the container's scope.
    """
    if cgroup_name.endswith(".mount"):
        return None
    parent, base = _split(cgroup_name)
    subgroup = False
    if base == PODMAN_SUBGROUP:
        subgroup = True
        _, base = _split(parent)
    if not base.startswith("libpod-") or base.startswith("libpod-conmon-"):
        return None
    cid = base[len("libpod-") :]
    if cid.endswith(".scope"):
        cid = cid[: -len(".scope")]
    return (cid, subgroup) if is_full_id(cid) else None


def rootless_uid(cgroup_name: str) -> int | None:
    """The uid whose systemd user manager owns the cgroup (a ``user@<uid>.service`` component), else None."""
    i = cgroup_name.find("/user@")
    if i < 0:
        return None
    end = cgroup_name.find(".service", i)
    if end < 0:
        return None
    digits = cgroup_name[i + len("/user@") : end]
    return int(digits) if digits.isdigit() else None


# ---------------------------------------------------------------- containerd


def containerd_id(cgroup_name: str, namespace: str) -> str | None:
    """The containerd container id of a cgroup, else None.

    ``cri-containerd-<id>.scope`` anywhere; a bare 64-character basename below a ``kubepods``
    component (cgroupfs driver); ``/<namespace>/<id>`` directly under the root for the configured
    namespace. A bare 64-character basename elsewhere (``/docker/<id>``) is Docker's.
    """
    if cgroup_name.endswith(".mount") or cgroup_name == "/":
        return None
    parent, base = _split(cgroup_name)
    if base.startswith("cri-containerd-") and base.endswith(".scope"):
        cid = base[len("cri-containerd-") : -len(".scope")]
        return cid if is_full_id(cid) else None
    if is_full_id(base) and "/kubepods" in parent:
        return base
    if namespace and parent == "/" + namespace and _valid_containerd_id(base):
        return base
    return None


def _valid_containerd_id(text: str) -> bool:
    if not text or len(text) > _CONTAINERD_ID_MAX or not all(c in _CONTAINERD_ID_CHARS for c in text):
        return False
    return text[0].isalnum() and text[-1].isalnum()


# ---------------------------------------------------------------- CRI-O


def crio_id(cgroup_name: str) -> str | None:
    """The CRI-O container id of a cgroup, else None (cAdvisor ``CanHandleAndAccept``/``ContainerNameToCrioId``)."""
    if cgroup_name.endswith(".mount"):
        return None
    _, base = _split(cgroup_name)
    if not base.startswith("crio") or base.startswith("crio-conmon"):
        return None
    core = base[len("crio-") :].removesuffix(".scope")
    return core if is_full_id(core) else find_id(base)  # the usual crio-<id>[.scope] first
