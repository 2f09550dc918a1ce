"""The container decoder on task-group paths as the runtimes lay their
cgroups out (captured data: directory names, written here as containerd,
CRI-O, Docker and podman make them under the systemd and cgroupfs drivers;
cgroup v2 names them alike), and the look-alikes it must not take."""

from __future__ import annotations

import pytest

from orchestrator import groupings
from orchestrator.groupings import container
from orchestrator.groupings.container import Container, decode

ID = "3f2a9c1b7d8e4f60" * 4  # 64 lowercase hex
OTHER_ID = "a1" * 32
UID = "5b6f1d2e-8c3a-4e9b-a7d1-0c2e4f6a8b9d"
SLICE_UID = UID.replace("-", "_")
STATIC_UID = "6d2d8e8dd8a5b4c2b9e4d4e7f6a4e4b1"  # a static pod's: its manifest's hash

KUBEPODS = "/kubepods.slice"
BURSTABLE = f"{KUBEPODS}/kubepods-burstable.slice/kubepods-burstable-pod{SLICE_UID}.slice"
BESTEFFORT = f"{KUBEPODS}/kubepods-besteffort.slice/kubepods-besteffort-pod{SLICE_UID}.slice"
GUARANTEED = f"{KUBEPODS}/kubepods-pod{SLICE_UID}.slice"


@pytest.mark.parametrize("path", [
    # containerd, systemd driver, each QoS class
    f"{BURSTABLE}/cri-containerd-{ID}.scope",
    f"{BESTEFFORT}/cri-containerd-{ID}.scope",
    f"{GUARANTEED}/cri-containerd-{ID}.scope",
    # CRI-O, systemd driver
    f"{BURSTABLE}/crio-{ID}.scope",
    f"{GUARANTEED}/crio-{ID}.scope",
    # Docker through dockershim or cri-dockerd, systemd driver
    f"{BESTEFFORT}/docker-{ID}.scope",
    # the cgroupfs driver: the id alone (containerd, Docker), or CRI-O's crio-<id>
    f"/kubepods/burstable/pod{UID}/{ID}",
    f"/kubepods/besteffort/pod{UID}/{ID}",
    f"/kubepods/pod{UID}/{ID}",
    f"/kubepods/besteffort/pod{UID}/crio-{ID}",
    # kubelet's --cgroup-root, and a node that is itself a container (kind)
    f"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/"
    f"kubelet-kubepods-burstable-pod{SLICE_UID}.slice/cri-containerd-{ID}.scope",
    f"/docker/{OTHER_ID}/kubepods/burstable/pod{UID}/{ID}",
    # under a test's own directory, as the kernel test lays them out
    f"/lottery-test-0a1b2c3d/kubepods/besteffort/pod{UID}/{ID}",
])
def test_a_containers_cgroup_in_a_pod_gives_its_id_and_its_pods_uid(path):
    assert decode(path) == Container(ID, UID)


@pytest.mark.parametrize("path", [
    f"/system.slice/docker-{ID}.scope",                  # Docker, systemd driver
    f"/docker/{ID}",                                     # Docker, cgroupfs driver
    f"/machine.slice/libpod-{ID}.scope",                 # podman as root
    f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope",
    f"/libpod_parent/libpod-{ID}",                       # podman, cgroupfs driver
    f"/docker/{OTHER_ID}/docker/{ID}",                   # Docker in Docker: the nearest
    f"/lottery-test-0a1b2c3d/system.slice/docker-{ID}.scope",
])
def test_a_container_outside_kubernetes_has_no_pod(path):
    assert decode(path) == Container(ID, "")


@pytest.mark.parametrize("path", [
    f"{BURSTABLE}/cri-containerd-{ID}.scope/init.scope",
    f"{BURSTABLE}/cri-containerd-{ID}.scope/a/b/c",
    f"/kubepods/besteffort/pod{UID}/{ID}/worker",
    f"/system.slice/docker-{ID}.scope/sub",
])
def test_a_task_in_a_cgroup_below_a_container_belongs_to_it(path):
    assert decode(path).container_id == ID


@pytest.mark.parametrize("path", [
    BURSTABLE, BESTEFFORT, GUARANTEED,                    # the pod's own slice
    f"{BURSTABLE}/crio-conmon-{ID}.scope",               # CRI-O's monitor of a container
    f"/kubepods/burstable/pod{UID}",
    f"/kubepods/pod{UID}",
    f"/kubepods/burstable/pod{UID}/not-a-container",
])
def test_a_pods_cgroup_outside_its_containers_gives_the_pod_alone(path):
    assert decode(path) == Container("", UID)


def test_a_static_pods_uid_is_the_hash_kubernetes_prints():
    slice_ = f"{KUBEPODS}/kubepods-burstable.slice/kubepods-burstable-pod{STATIC_UID}.slice"
    assert decode(f"{slice_}/cri-containerd-{ID}.scope") == Container(ID, STATIC_UID)
    assert decode(f"/kubepods/burstable/pod{STATIC_UID}/{ID}") == Container(ID, STATIC_UID)


@pytest.mark.parametrize("path", [
    "", "/", "?", "/autogroup-41", "/system.slice/sshd.service",
    "/user.slice/user-0.slice/session-3.scope", KUBEPODS, "/kubepods", "/kubepods/burstable",
    f"{KUBEPODS}/kubepods-burstable.slice",
    f"?/{ID}", "/(gone)",
])
def test_the_hosts_own_tasks_have_neither(path):
    assert decode(path) == Container("", "")


@pytest.mark.parametrize("path", [
    f"/system.slice/docker-{ID[:63]}.scope",             # 63 hex
    f"/system.slice/docker-{ID}a.scope",                 # 65 hex
    f"/system.slice/docker-{ID.upper()}.scope",          # uppercase
    f"/docker/{ID[:63]}",
    f"/docker/{ID}0",
    f"/docker/{ID.upper()}",
    f"/system.slice/containerd-{ID}.scope",              # prefixes no runtime uses
    f"/system.slice/cri-o-{ID}.scope",
    f"/system.slice/docker_{ID}.scope",
    f"/system.slice/mydocker-{ID}.scope",
    f"/system.slice/docker-{ID}.service",
    f"/system.slice/docker-{ID}.scope.old",
    f"/machine.slice/libpod-conmon-{ID}.scope",          # podman's monitor, not the container
    f"/srv/{ID}",                                        # an id alone, not under a pod or docker/
    f"/pod{UID}/{ID}",                                   # a pod directory outside kubepods
    f"/kubepods/guaranteed/pod{UID}/{ID}",               # no such QoS directory
])
def test_look_alikes_are_no_container(path):
    assert decode(path).container_id == ""


@pytest.mark.parametrize("name", [
    f"kubepods-burstable-pod{UID}.slice",                # dashes where systemd has _
    f"kubepods-burstable-pod{SLICE_UID.upper()}.slice",
    f"kubepods-burstable-pod{SLICE_UID[:-1]}.slice",
    f"kubepods-burstable-pod{SLICE_UID}0.slice",
    f"kubepods-guaranteed-pod{SLICE_UID}.slice",
    f"kubepods-burstable-pod{SLICE_UID}.scope",
    f"kubepods-burstable-pod{STATIC_UID[:-1]}.slice",
])
def test_pod_slice_look_alikes_are_no_pod(name):
    assert decode(f"{KUBEPODS}/{name}/cri-containerd-{ID}.scope") == Container(ID, "")


@pytest.mark.parametrize("name", [f"pod{UID.upper()}", f"pod{SLICE_UID}", f"pod{UID[:-1]}",
                                  f"pod-{UID}", f"pod{STATIC_UID}0"])
def test_pod_directory_look_alikes_are_no_pod(name):
    assert decode(f"/kubepods/burstable/{name}/x") == Container("", "")
    assert decode(f"/kubepods/burstable/{name}/{ID}") == Container("", "")


def test_names_say_container_pod_or_host_and_short_ones_fit_a_column():
    assert container.name(Container(ID, UID)) == ID
    assert container.name(Container("", UID)) == f"pod-{UID}"
    assert container.name(Container("", "")) == "host"
    assert container.short(ID) == ID[:12]
    assert container.short(f"pod-{UID}") == f"pod-{UID[:8]}"
    assert container.short("host") == "host"


def test_the_grouping_is_one_of_the_labels_the_exporter_may_use():
    grouping = groupings.get("container")
    assert "container" in groupings.LABELS
    assert grouping.labels == ("container_id", "pod_uid")
    assert grouping.label_values(decode(f"/kubepods/pod{UID}/{ID}")) == (ID, UID)
