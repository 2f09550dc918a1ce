"""One group per container, read from its task group's path: the container
id (64 lowercase hex) and the Kubernetes pod uid (as Kubernetes prints it),
as containerd, CRI-O, Docker and podman name the cgroups they make, under
either cgroup driver:

  systemd   kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid, _ for ->.slice/
              cri-containerd-<id>.scope | crio-<id>.scope | docker-<id>.scope
            (guaranteed pods: kubepods.slice/kubepods-pod<uid>.slice/...)
            system.slice/docker-<id>.scope, machine.slice/libpod-<id>.scope
  cgroupfs  kubepods/<qos>/pod<uid>/<id> (guaranteed: kubepods/pod<uid>/<id>),
            CRI-O's crio-<id> there, docker/<id>

Only names are read, so cgroup v2 lays them out alike.  A task in a cgroup
below a container's belongs to the nearest container above it; a task in a
pod's cgroup outside its containers (the pod's own slice, CRI-O's
crio-conmon-<id>.scope) to the pod alone; every other task to the host."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from orchestrator.groupings import Grouping
from orchestrator.records import TaskRecord

HOST = "host"  # the name of the group of tasks in no container and no pod
POD = "pod-"   # the name of a pod's group outside its containers: POD + its uid

_ID = r"[0-9a-f]{64}"
# A runtime's prefix, the id, and .scope where systemd made the cgroup: the
# prefixes say a container, wherever its cgroup sits.
_NAMED = re.compile(rf"(?:cri-containerd|crio|docker|libpod)-({_ID})(?:\.scope)?")
_BARE = re.compile(_ID)  # cgroupfs: the id alone, under a pod or docker/


def _uid(dash: str) -> str:
    """A Kubernetes pod uid with `dash` between its parts: an RFC 4122 uuid,
    or for a static pod the 32 hex of its manifest's hash, as printed."""
    return dash.join(f"[0-9a-f]{{{n}}}" for n in (8, 4, 4, 4, 12)) + "|[0-9a-f]{32}"


_QOS = ("burstable", "besteffort")
# systemd: the slice's name spells its parents, and its uid has _ for -.
_POD_SLICE = re.compile(rf"(?:.+-)?kubepods(?:-burstable|-besteffort)?-pod({_uid('_')})\.slice")
_POD_DIR = re.compile(f"pod({_uid('-')})")


class Container(NamedTuple):
    """The container a task runs in ("" when none) and its pod ("" when none)."""

    container_id: str
    pod_uid: str


def _pod(parts: list[str], at: int) -> str:
    """The pod uid a cgroup named parts[at] (its parents before it) stands
    for; "" when it is no pod's."""
    name = parts[at]
    if found := _POD_SLICE.fullmatch(name):
        return found.group(1).replace("_", "-")
    if found := _POD_DIR.fullmatch(name):
        parent = parts[at - 1] if at >= 1 else ""
        grand = parts[at - 2] if at >= 2 else ""
        if parent == "kubepods" or (parent in _QOS and grand == "kubepods"):
            return found.group(1)
    return ""


def _container(parts: list[str], at: int) -> str:
    name = parts[at]
    if found := _NAMED.fullmatch(name):
        return found.group(1)
    if _BARE.fullmatch(name) and at >= 1 and (parts[at - 1] == "docker" or _pod(parts, at - 1)):
        return name
    return ""


@lru_cache(maxsize=8192)
def decode(path: str) -> Container:
    """The container and pod of a task group's path ('/kubepods/besteffort/
    pod<uid>/<id>'); both "" for a task of the host."""
    parts = path.split("/")
    container = ""
    for at in range(len(parts) - 1, -1, -1):  # the leaf first: the nearest wins
        if pod := _pod(parts, at):
            return Container(container, pod)
        if not container:
            container = _container(parts, at)
    return Container(container, "")


def name(found: Container) -> str:
    """A container by its id, a pod's own cgroups by POD + its uid, else HOST."""
    if found.container_id:
        return found.container_id
    return POD + found.pod_uid if found.pod_uid else HOST


def short(group_name: str) -> str:
    """A name where the width is tight: an id's first 12 hex, as docker ps
    shows it, and a pod's first 8."""
    if _BARE.fullmatch(group_name):
        return group_name[:12]
    if group_name.startswith(POD):
        return group_name[:len(POD) + 8]
    return group_name


def _key(record: TaskRecord) -> Container:
    return decode(record.group or "")


def _name(record: TaskRecord) -> str:
    return name(_key(record))


CONTAINER = Grouping("container", "one row per container (its id and pod uid)", key=_key,
                     namer=lambda tasks: _name, counts=True, title="CONTAINER", short=short,
                     labels=("container_id", "pod_uid"), label_values=tuple, detail=("pod",),
                     of_task_group=True)
