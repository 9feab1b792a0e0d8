"""Pick free loopback TCP ports for one cluster's listeners."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable

# Below the kernel's ephemeral range (32768-60999 on Linux): a port taken from that range
# could be handed to an outgoing connection (say, the apiserver's to etcd) between the
# moment we probe it and the moment our component binds it.
PORT_RANGE = range(20000, 32000)


def _can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(
    count: int,
    *,
    choose: Callable[[range], int] = random.SystemRandom().choice,
    can_bind: Callable[[int], bool] = _can_bind,
    attempts: int = 1000,
) -> list[int]:
    """Return ``count`` distinct ports on 127.0.0.1 that nothing is listening on now.

    Random choice keeps two clusters started at the same moment from picking the same
    ports; a port can still be taken between this probe and the bind, which the
    component then reports as "address already in use" in its log.
    """
    chosen: list[int] = []
    for _ in range(attempts):
        if len(chosen) == count:
            return chosen
        port = choose(PORT_RANGE)
        if port not in chosen and can_bind(port):
            chosen.append(port)
    if len(chosen) == count:
        return chosen
    raise RuntimeError(f"found only {len(chosen)} of {count} free ports in {PORT_RANGE.start}-{PORT_RANGE.stop - 1}")
