"""Port checks: is something listening, and refuse to start on a port someone else holds."""

import socket

from seamline.stack.errors import StackError


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connect to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_free(host: str, port: int) -> bool:
    """True when a server could bind host:port now (a socket in TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def ensure_port_free(host: str, port: int, service: str) -> None:
    """Raise StackError naming the port when another process holds it."""
    if not port_free(host, port):
        raise StackError(
            f"port {port} on {host} is in use by another process, so {service} cannot start: "
            f"stop that process (`ss -ltnp 'sport = :{port}'` shows it) and rerun `seamline stack up`"
        )


def free_port() -> int:
    """A TCP port nobody listens on right now on 127.0.0.1 (for a /metrics endpoint or a test's server)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
