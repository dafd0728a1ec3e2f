"""Proxies that carry every request through tunnels on their node, and each reply back.

Alone (`proxy`): one proxy carries each request through TUNNELS connections to itself, as
a node proxy does between two pods of its node (its outbound side writes into the tunnel,
its inbound side reads it), then to the app. As a pair (`proxy ... pair` with `relay`): two
proxies pass each request back and forth over TUNNELS connections between them, as
sidecars of pods on one node pass it from one to the next; each link's connection opened
by the proxy that forwards requests on it, so that each proxy reads requests on sockets it
accepted, as a sidecar does. Each proxy has one thread, never asleep: it polls its sockets
without waiting, so no arrival finds it idle and nothing of its wake-ups enters its hops.
Every process reports, from its own clock (CLOCK_MONOTONIC, the kernel's for the probes),
the instants that bound the path through the proxies: the client's send of each request
and the first proxy's return from forwarding it to the app; the app's send of each reply
and the first proxy's return from forwarding it to the client.

  tunnel-proxy.py app PORT ROUNDS
      one connection: each request answered at once; prints, once the proxy has closed
      it, when each reply's send began
  tunnel-proxy.py proxy PORT TUNNEL_BASE_PORT TUNNELS APP_PORT ROUNDS [pair]
      with `pair`, TUNNELS even and the relay started first: the links between the two
  tunnel-proxy.py relay PROXY_ADDRESS TUNNEL_BASE_PORT TUNNELS ROUNDS
      the pair's second proxy: link i's server end where i is even (on TUNNEL_BASE_PORT + i),
      its client end where i is odd
  tunnel-proxy.py client ADDRESS PORT ROUNDS GAP_MS
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


def connect_retrying(address, port, deadline):
    """A connection to a listener that may not be listening yet (the pair's other proxy)."""
    while True:
        try:
            return connected(socket.create_connection((address, port), timeout=TIMEOUT_S))
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def open_links(address, tunnel_base, tunnels, own, deadline):
    """The pair's links in order: accepted on this proxy's own listener where it has one
    (`own`, by link; closed once accepted), connected to the other proxy's elsewhere."""
    links = [
        connected(own[i].accept()[0])
        if i in own
        else connect_retrying(address, tunnel_base + i, deadline)
        for i in range(tunnels)
    ]
    for s in own.values():
        s.close()
    return links


def relay_loop(routes, done, on_forward, deadline):
    """Reads a message wherever one is ready and writes it where `routes` says, until
    `done()`: (source, destination) pairs, each source read by one thread, never asleep."""
    # Blocking, without a timeout: Python would otherwise poll before each read, and an
    # arrival during that poll would find the thread on the socket's wait queue.
    for source, to in routes:
        source.settimeout(None)
        to.settimeout(None)
    route = {source.fileno(): (source, to) for source, to in routes}
    while not done() and time.monotonic() < deadline:
        # A timeout of 0: the thread never sleeps on the sockets' wait queues.
        ready, _, _ = select.select(list(route), [], [], 0)
        for fd in ready:
            source, to = route[fd]
            to.sendall(read_message(source, MESSAGE))
            on_forward(to)


def proxy(port, tunnel_base, tunnels, app_port, rounds, pair):
    deadline = time.monotonic() + 60
    front_listener = listener(port)
    # Alone: a connection to each of its own listeners, both ends kept. As a pair: the
    # links whose requests it reads (odd), on listeners of its own, the relay's others.
    own = {i: listener(tunnel_base + i) for i in range(tunnels) if not pair or i % 2 == 1}
    print("ready", flush=True)
    front = connected(front_listener.accept()[0])
    if pair:
        links = open_links("127.0.0.1", tunnel_base, tunnels, own, deadline)
        # Requests: from the client onto link 0, from each odd link onto the next, from
        # the last to the app; replies the other way.
        request_next = [front] + links[1::2]
        request_to = links[0::2]
    else:
        outer, inner = [], []
        for i in range(tunnels):
            outer.append(connected(socket.create_connection(("127.0.0.1", tunnel_base + i))))
            inner.append(connected(own[i].accept()[0]))
        for s in own.values():
            s.close()
        request_next = [front] + inner
        request_to = outer
    upstream = connected(socket.create_connection(("127.0.0.1", app_port)))
    request_to = request_to + [upstream]
    routes = list(zip(request_next, request_to)) + list(zip(request_to[::-1], request_next[::-1]))
    forwarded_at, answered_at = [], []

    def on_forward(to):
        if to is upstream:
            forwarded_at.append(time.monotonic_ns())
        elif to is front:
            answered_at.append(time.monotonic_ns())

    relay_loop(routes, lambda: len(answered_at) >= rounds, on_forward, deadline)
    print(
        json.dumps({"request_forwarded_at": forwarded_at, "reply_forwarded_at": answered_at}),
        flush=True,
    )


def relay(address, tunnel_base, tunnels, rounds):
    deadline = time.monotonic() + 60
    own = {i: listener(tunnel_base + i) for i in range(0, tunnels, 2)}
    print("ready", flush=True)
    links = open_links(address, tunnel_base, tunnels, own, deadline)
    # Requests from each even link onto the next; replies the other way.
    routes = list(zip(links[0::2], links[1::2])) + list(zip(links[1::2], links[0::2]))
    forwarded = [0]

    def on_forward(_):
        forwarded[0] += 1

    relay_loop(routes, lambda: forwarded[0] >= rounds * tunnels, on_forward, deadline)
    print(json.dumps({"forwarded": forwarded[0]}), flush=True)


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "app":
        app(int(args[0]), int(args[1]))
    elif mode == "proxy":
        pair = args[5:] == ["pair"]
        proxy(int(args[0]), int(args[1]), int(args[2]), int(args[3]), int(args[4]), pair)
    elif mode == "relay":
        relay(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif mode == "client":
        client(args[0], int(args[1]), int(args[2]), float(args[3]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
