"""A proxy with one thread that serves two pods' connections, as a node proxy does: its
listener and its upstream connection in each of two network namespaces (setns between the
socket calls; a socket stays in the namespace it was made in). It forwards out of the
order it read: each round it reads pod A's request, then pod B's, forwards B's and
answers it, holds A's for a while, then forwards A's. It reports, from its own clock,
how long it held each request between its read and its forward.

  two-namespace-proxy.py echo PORT
      one connection's fixed-size messages echoed back (the upstream in each pod)
  two-namespace-proxy.py proxy NETNS_A NETNS_B PORT UPSTREAM_PORT ROUNDS HOLD_MS
  two-namespace-proxy.py client ADDRESS_A ADDRESS_B PORT ROUNDS GAP_MS
      each round: a request to A, GAP_MS later one to B, then both replies

Python, not node: node cannot enter a namespace. Every loop is bounded by ROUNDS and by
the sockets' timeouts.
"""

import ctypes
import json
import os
import socket
import sys
import time

from lab_sockets import TIMEOUT_S, connected, listener, read_message

MESSAGE = 16
CLONE_NEWNET = 0x40000000


def enter(netns):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns}")
    finally:
        os.close(fd)


def echo(port):
    server = listener(port)
    print("ready", flush=True)
    conn = connected(server.accept()[0])
    try:
        while True:
            conn.sendall(read_message(conn, MESSAGE))
    except EOFError:
        pass


def proxy(netns_a, netns_b, port, upstream_port, rounds, hold_ms):
    sides = {}
    for name, netns in (("a", netns_a), ("b", netns_b)):
        enter(netns)
        sides[name] = {
            "listener": listener(port),
            "upstream": connected(socket.create_connection(("127.0.0.1", upstream_port))),
        }
    print("ready", flush=True)
    for side in sides.values():
        side["down"] = connected(side["listener"].accept()[0])
    held = {"a": [], "b": []}

    def forward(name, read_at):
        side = sides[name]
        held[name].append((time.monotonic_ns() - read_at) / 1e6)
        side["upstream"].sendall(side["request"])
        side["down"].sendall(read_message(side["upstream"], MESSAGE))

    for _ in range(rounds):
        read_at = {}
        for name in ("a", "b"):
            sides[name]["request"] = read_message(sides[name]["down"], MESSAGE)
            read_at[name] = time.monotonic_ns()
        forward("b", read_at["b"])
        time.sleep(hold_ms / 1000)
        forward("a", read_at["a"])
    print(json.dumps({"held_ms": held}), flush=True)


def client(address_a, address_b, port, rounds, gap_ms):
    a = connected(socket.create_connection((address_a, port), timeout=TIMEOUT_S))
    b = connected(socket.create_connection((address_b, port), timeout=TIMEOUT_S))
    for i in range(rounds):
        a.sendall(i.to_bytes(MESSAGE, "big"))
        time.sleep(gap_ms / 1000)
        b.sendall(i.to_bytes(MESSAGE, "big"))
        for conn in (b, a):
            if int.from_bytes(read_message(conn, MESSAGE), "big") != i:
                raise ValueError(f"round {i}: another round's reply")
    print(json.dumps({"rounds": rounds}), flush=True)


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "echo":
        echo(int(args[0]))
    elif mode == "proxy":
        proxy(args[0], args[1], int(args[2]), int(args[3]), int(args[4]), float(args[5]))
    elif mode == "client":
        client(args[0], args[1], int(args[2]), int(args[3]), float(args[4]))
    else:
        sys.exit(f"unknown mode {mode}")
