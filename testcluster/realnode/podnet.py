#!/usr/bin/python3
"""CNI plugin ``prodigy-podnet``: a pod network that reaches nothing.

containerd's CRI needs an ``eth0`` with an address in every pod sandbox. This plugin makes a
veth pair whose *both* ends stay inside the pod's own network namespace (``eth0`` and
``eth0-peer``) and gives ``eth0`` a link-local address derived from the sandbox id. No
interface, route or address is created on the host, and no packet can leave the pod; the
pods need none (their inputs are ConfigMaps and Secrets, their results leave through logs).
The loopback interface is brought up by containerd itself (CNI ``loopback`` plugin).

Run by containerd with the CNI environment (``CNI_COMMAND``, ``CNI_NETNS``, ``CNI_IFNAME``,
``CNI_CONTAINERID``) and the network configuration on stdin. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"]
IP = "/usr/sbin/ip"
NSENTER = "/usr/bin/nsenter"


def address_for(container_id: str) -> str:
    digest = hashlib.sha256(container_id.encode()).digest()
    return f"169.254.{1 + digest[0] % 254}.{1 + digest[1] % 254}"


def in_netns(netns: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NSENTER, f"--net={netns}", IP, *args], capture_output=True, text=True, check=False)


def fail(code: int, message: str, version: str) -> int:
    json.dump({"cniVersion": version, "code": code, "msg": message}, sys.stdout)
    return 1


def add(netns: str, ifname: str, container_id: str, version: str) -> int:
    address = address_for(container_id)
    steps = [
        ("link", "add", ifname, "type", "veth", "peer", "name", f"{ifname}-peer"[:15]),
        ("addr", "add", f"{address}/32", "dev", ifname),
        ("link", "set", ifname, "up"),
        ("link", "set", f"{ifname}-peer"[:15], "up"),
    ]
    for step in steps:
        result = in_netns(netns, *step)
        if result.returncode != 0:
            return fail(11, f"ip {' '.join(step)}: {result.stderr.strip()}", version)
    mac = in_netns(netns, "-j", "link", "show", ifname)
    try:
        hardware = json.loads(mac.stdout)[0].get("address", "")
    except (ValueError, IndexError):
        hardware = ""
    json.dump({
        "cniVersion": version,
        "interfaces": [{"name": ifname, "mac": hardware, "sandbox": netns}],
        "ips": [{"address": f"{address}/32", "interface": 0}],
        "dns": {},
    }, sys.stdout)
    return 0


def main() -> int:
    command = os.environ.get("CNI_COMMAND", "")
    raw = sys.stdin.read() if command in ("ADD", "DEL", "CHECK") else "{}"
    config = json.loads(raw or "{}")
    version = str(config.get("cniVersion") or "1.0.0")
    if command == "VERSION":
        json.dump({"cniVersion": "1.0.0", "supportedVersions": VERSIONS}, sys.stdout)
        return 0
    netns, ifname = os.environ.get("CNI_NETNS", ""), os.environ.get("CNI_IFNAME", "eth0")
    if command == "ADD":
        if not netns:
            return fail(4, "CNI_NETNS is required", version)
        return add(netns, ifname, os.environ.get("CNI_CONTAINERID", ""), version)
    if command == "DEL":
        if netns and os.path.exists(netns):
            in_netns(netns, "link", "del", ifname)   # gone with the namespace anyway
        return 0
    if command == "CHECK":
        return 0
    return fail(4, f"unknown CNI_COMMAND {command!r}", version)


if __name__ == "__main__":
    sys.exit(main())
