"""A proxy that carries every request through tunnels to itself, as a node proxy does
between two pods of its node (its outbound side writes into the tunnel, its inbound side
reads it): each request goes from its listener through TUNNELS connections of its own
(each to a listener of its own) to the app, and each reply back the same way. One thread,
never asleep: it polls its sockets without waiting, so no arrival finds it idle and
nothing of its wake-ups enters its hops. Every process reports, from its own clock
(CLOCK_MONOTONIC, the kernel's for the probes), the instants that bound the path through
the proxy: the client's send of each request and the proxy's return from forwarding it
to the app; the app's send of each reply and the proxy's return from forwarding it to
the client.

  self-tunnel-proxy.py app PORT ROUNDS
      one connection: each request answered at once; prints, once the proxy has closed
      it, when each reply's send began
  self-tunnel-proxy.py proxy PORT TUNNEL_BASE_PORT TUNNELS APP_PORT ROUNDS
  self-tunnel-proxy.py client ADDRESS PORT ROUNDS GAP_MS
      one request at a time; prints when each request's send began

Every message is MESSAGE bytes. Every loop is bounded by ROUNDS and by a deadline.
"""

import json
import select
import socket
import sys
import time

from lab_sockets import TIMEOUT_S, connected, listener, read_message

MESSAGE = 64


def app(port, rounds):
    server = listener(port)
    print("ready", flush=True)
    conn = connected(server.accept()[0])
    sent_at = []
    for _ in range(rounds):
        read_message(conn, MESSAGE)
        sent_at.append(time.monotonic_ns())
        conn.sendall(b"r" * MESSAGE)
    # Open until the proxy is done: a close here could reach its loop before the last
    # reply has gone all the way back.
    conn.recv(1)
    print(json.dumps({"reply_sent_at": sent_at}), flush=True)


def client(address, port, rounds, gap_ms):
    conn = connected(socket.create_connection((address, port), timeout=TIMEOUT_S))
    sent_at = []
    for _ in range(rounds):
        sent_at.append(time.monotonic_ns())
        conn.sendall(b"q" * MESSAGE)
        read_message(conn, MESSAGE)
        time.sleep(gap_ms / 1000)
    print(json.dumps({"request_sent_at": sent_at}), flush=True)


def proxy(port, tunnel_base, tunnels, app_port, rounds):
    front_listener = listener(port)
    print("ready", flush=True)
    front = connected(front_listener.accept()[0])
    # The tunnels: a connection to each of its own listeners, both ends kept.
    outer, inner = [], []
    for i in range(tunnels):
        tunnel_listener = listener(tunnel_base + i)
        outer.append(connected(socket.create_connection(("127.0.0.1", tunnel_base + i))))
        inner.append(connected(tunnel_listener.accept()[0]))
        tunnel_listener.close()
    upstream = connected(socket.create_connection(("127.0.0.1", app_port)))
    # Where the bytes read on each socket go: requests down the chain, replies back up.
    request_next = [front] + inner
    request_to = outer + [upstream]
    reply_next = [upstream] + outer[::-1]
    reply_to = inner[::-1] + [front]
    # Blocking, without a timeout: Python would otherwise poll before each read, and an
    # arrival during that poll would find the thread on the socket's wait queue.
    for s in [front, upstream] + outer + inner:
        s.settimeout(None)
    route = {s.fileno(): (s, to) for s, to in zip(request_next, request_to)}
    route.update({s.fileno(): (s, to) for s, to in zip(reply_next, reply_to)})
    forwarded_at, answered_at = [], []
    deadline = time.monotonic() + 60
    while len(answered_at) < rounds and time.monotonic() < deadline:
        # A timeout of 0: the thread never sleeps on the sockets' wait queues.
        ready, _, _ = select.select(list(route), [], [], 0)
        for fd in ready:
            source, to = route[fd]
            to.sendall(read_message(source, MESSAGE))
            if to is upstream:
                forwarded_at.append(time.monotonic_ns())
            elif to is front:
                answered_at.append(time.monotonic_ns())
    print(
        json.dumps({"request_forwarded_at": forwarded_at, "reply_forwarded_at": answered_at}),
        flush=True,
    )


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "app":
        app(int(args[0]), int(args[1]))
    elif mode == "proxy":
        proxy(int(args[0]), int(args[1]), int(args[2]), int(args[3]), int(args[4]))
    elif mode == "client":
        client(args[0], int(args[1]), int(args[2]), float(args[3]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
