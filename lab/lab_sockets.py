"""What the lab's Python peers share: a listener, a connected socket's settings, and the
read of one fixed-size message. Python, for peers that node cannot be (a process that
enters network namespaces, a proxy that never sleeps on its sockets)."""

import socket

TIMEOUT_S = 10


def listener(port):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))
    server.listen(4)
    server.settimeout(TIMEOUT_S)
    return server


def connected(sock):
    sock.settimeout(TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_message(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("connection closed mid-message")
        data += chunk
    return data
