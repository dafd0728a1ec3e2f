"""A proxy with one thread that serves two pods' connections, as a node proxy does: its
listener and its upstream connection in each of two network namespaces (setns between the
socket calls; a socket stays in the namespace it was made in). It forwards out of the
order it read: each round it reads pod A's request, then B_EACH of pod B's one after
the other, forwarding and answering each of B's as it comes, holds A's for a while, then
forwards A's. It reports, from its own clock, how long it held each request between its
read and its forward.

  two-namespace-proxy.py echo PORT
      one connection's fixed-size messages echoed back (the upstream in each pod)
  two-namespace-proxy.py proxy NETNS_A NETNS_B PORT UPSTREAM_PORT ROUNDS HOLD_MS B_EACH
  two-namespace-proxy.py client ADDRESS_A ADDRESS_B PORT ROUNDS GAP_MS B_EACH
      each round: a request to A, GAP_MS later B_EACH to B, each after the reply to the
      one before, then A's reply

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


def proxy(netns_a, netns_b, port, upstream_port, rounds, hold_ms, b_each):
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

    def read(name):
        sides[name]["request"] = read_message(sides[name]["down"], MESSAGE)
        return time.monotonic_ns()

    for _ in range(rounds):
        read_at = read("a")
        for _ in range(b_each):
            forward("b", read("b"))
        time.sleep(hold_ms / 1000)
        forward("a", read_at)
    print(json.dumps({"held_ms": held}), flush=True)


def client(address_a, address_b, port, rounds, gap_ms, b_each):
    a = connected(socket.create_connection((address_a, port), timeout=TIMEOUT_S))
    b = connected(socket.create_connection((address_b, port), timeout=TIMEOUT_S))

    def exchange_done(conn, i):
        if int.from_bytes(read_message(conn, MESSAGE), "big") != i:
            raise ValueError(f"round {i}: another round's reply")

    for i in range(rounds):
        a.sendall(i.to_bytes(MESSAGE, "big"))
        time.sleep(gap_ms / 1000)
        for _ in range(b_each):
            b.sendall(i.to_bytes(MESSAGE, "big"))
            exchange_done(b, i)
        exchange_done(a, i)
    print(json.dumps({"rounds": rounds}), flush=True)


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "echo":
        echo(int(args[0]))
    elif mode == "proxy":
        proxy(args[0], args[1], int(args[2]), int(args[3]), int(args[4]), float(args[5]), int(args[6]))
    elif mode == "client":
        client(args[0], args[1], int(args[2]), int(args[3]), float(args[4]), int(args[5]))
    else:
        sys.exit(f"unknown mode {mode}")
