"""Joining Ray (an optional extra, `pip install rlkit[ray]`): import it, check an address answers
before `ray.init` (which would wait for minutes), and start or join an instance. Used by the
Deep GA's Ray backend and by `rlkit sweep --backend ray`; nothing here imports ray at load time.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from rlkit.errors import ConfigError

CONNECT_TIMEOUT_S = 3.0
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
"""An HTTP/2 client preface and an empty SETTINGS frame: a gRPC server answers with its own."""


def import_ray(option: str = 'agent.backend: "ray"', instead: str = 'backend = "processes"') -> Any:
    """The ray module, or a ConfigError naming `option` and saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"{option} needs the ray package; install it with `pip install rlkit[ray]` "
            f"(or use {instead})"
        ) from None
    return ray


def check_reachable(
    address: str, option: str = "agent.ray_address", timeout: float = CONNECT_TIMEOUT_S
) -> None:
    """Fail fast, naming the address, when nothing listens there (ray.init would wait long)."""
    if address in ("auto", "local"):
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(
            f"{option}: {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379 or "
            'ray://10.0.0.5:10001), "auto", or unset for a local Ray instance'
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as conn:
            # Ray speaks gRPC: a listener that ignores an HTTP/2 preface would make ray.init
            # wait for minutes; any reply (or a closed connection) is left to ray.init
            conn.sendall(_HTTP2_PREFACE)
            conn.recv(1)
    except OSError as exc:
        raise ConfigError(
            f"{option}: no Ray cluster answers at {address} ({exc.strerror or exc}, "
            f"after at most {timeout:.0f} s); start one with `ray start --head` there, or "
            "leave the address unset for a local instance"
        ) from None


def init_ray(address: str | None, num_cpus: int | None, option: str = "agent.ray_address") -> bool:
    """Join the cluster at `address` (checked first), or start a local instance with `num_cpus`
    when `address` is None; nothing when this process already joined one. True when this call
    started or joined it (the caller then shuts it down)."""
    ray = import_ray()
    if address is not None:
        check_reachable(address, option)
    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=address,
            num_cpus=None if address else num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    except ConnectionError as exc:  # something listens there, but it let us in as no cluster
        if address is None:
            raise
        raise ConfigError(
            f"{option}: {address} answers but could not be joined as a Ray cluster ({exc}); "
            "give the head node's GCS address (ray start --head prints it), and for a cluster "
            "with token authentication (Ray >= 2.59 starts local ones so) set RAY_AUTH_MODE=token "
            "here, with its token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
        ) from None
    return True
