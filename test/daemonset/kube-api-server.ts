// A local HTTPS server that speaks the Kubernetes API's list and watch JSON for pods,
// services and namespaces, enough for client-node's ListWatch: lists with resourceVersion, watches that
// replay events after a resourceVersion and then stream, field selectors on
// spec.nodeName, 410 Gone for a compacted resourceVersion, a bearer token. The test can
// drop every open watch, end every watch at once, or make the next requests fail, to see
// the agent recover.
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TestCerts } from '../tls-certs.js';

type Obj = {
  /** No namespace: a cluster-scoped object (a Namespace). */
  metadata: { name: string; namespace?: string; uid: string; resourceVersion?: string };
  spec?: { nodeName?: string };
};
type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

const KINDS = { pods: 'Pod', services: 'Service', namespaces: 'Namespace' } as const;
type Resource = keyof typeof KINDS;

const keyOf = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;

export class FakeKubeApi {
  private rv = 100;
  private readonly objects: Record<Resource, Map<string, Obj>> = {
    pods: new Map(),
    services: new Map(),
    namespaces: new Map(),
  };
  private readonly history: { rv: number; resource: Resource; type: EventType; obj: Obj }[] = [];
  /** Events older than this resourceVersion are gone: a watch from before gets 410. */
  compactedBefore = 0;
  /** End every watch cleanly as soon as it has replayed its events, as a broken proxy might. */
  endWatchesAtOnce = false;
  private readonly watches = new Set<{
    resource: Resource;
    res: ServerResponse;
    filter: (o: Obj) => boolean;
  }>();
  private readonly sockets = new Set<Duplex>();
  private failures = 0;
  /** Every request, for asserting how the client asked. */
  readonly requests: { path: string; query: URLSearchParams; authorization: string }[] = [];
  url = '';

  private readonly server;

  constructor(
    readonly token: string,
    private readonly certs: TestCerts,
  ) {
    this.server = createServer({ cert: certs.serverCert, key: certs.serverKey }, (req, res) =>
      this.handle(req, res),
    );
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.server.close();
    await once(this.server, 'close');
  }

  /** A kubeconfig (YAML is JSON) that points at this server with its token. */
  kubeconfig(): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'fake',
          cluster: {
            server: this.url,
            'certificate-authority-data': this.certs.ca.toString('base64'),
          },
        },
      ],
      users: [{ name: 'agent', user: { token: this.token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'agent' } }],
      'current-context': 'fake',
    });
  }

  put(resource: Resource, obj: Obj): void {
    const key = keyOf(obj.metadata.namespace, obj.metadata.name);
    const type: EventType = this.objects[resource].has(key) ? 'MODIFIED' : 'ADDED';
    this.record(resource, type, obj);
    this.objects[resource].set(key, obj);
  }

  /** Changes state without an event, as a lost event would: only a fresh list shows it. */
  putWithoutEvent(resource: Resource, obj: Obj): void {
    obj.metadata.resourceVersion = String(++this.rv);
    this.objects[resource].set(keyOf(obj.metadata.namespace, obj.metadata.name), obj);
  }

  /** `namespace` undefined for a cluster-scoped object. */
  remove(resource: Resource, namespace: string | undefined, name: string): void {
    const obj = this.objects[resource].get(keyOf(namespace, name));
    if (!obj) return;
    this.objects[resource].delete(keyOf(namespace, name));
    this.record(resource, 'DELETED', obj);
  }

  /** Ends every open watch the way a load balancer or an API server restart does. */
  dropWatches(): number {
    const n = this.watches.size;
    for (const w of this.watches) w.res.socket?.destroy();
    this.watches.clear();
    return n;
  }

  /** The next n requests get 503. */
  failNext(n: number): void {
    this.failures = n;
  }

  openWatches(resource: Resource): number {
    return [...this.watches].filter((w) => w.resource === resource).length;
  }

  private record(resource: Resource, type: EventType, obj: Obj): void {
    const rv = ++this.rv;
    obj.metadata.resourceVersion = String(rv);
    const copy = structuredClone(obj);
    this.history.push({ rv, resource, type, obj: copy });
    for (const w of this.watches)
      if (w.resource === resource && w.filter(copy))
        w.res.write(
          `${JSON.stringify({ type, object: { kind: KINDS[resource], apiVersion: 'v1', ...copy } })}\n`,
        );
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({
      path: url.pathname,
      query: url.searchParams,
      authorization: req.headers.authorization ?? '',
    });
    const status = (code: number, reason: string, message: string) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason,
          message,
          code,
        }),
      );
    };
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      status(401, 'Unauthorized', 'Unauthorized');
      return;
    }
    if (this.failures > 0) {
      this.failures--;
      status(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
      return;
    }
    const resource = /^\/api\/v1\/(pods|services|namespaces)$/.exec(url.pathname)?.[1] as
      | Resource
      | undefined;
    if (!resource) {
      status(404, 'NotFound', `no route for ${url.pathname}`);
      return;
    }
    const filter = selectorFilter(url.searchParams.get('fieldSelector'));
    if (!filter) {
      status(400, 'BadRequest', 'unsupported field selector');
      return;
    }
    if (url.searchParams.get('watch') === 'true') {
      const from = Number(url.searchParams.get('resourceVersion') || '0');
      if (from < this.compactedBefore) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: `too old resource version: ${from}` } })}\n`,
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      for (const e of this.history)
        if (e.rv > from && e.resource === resource && filter(e.obj))
          res.write(
            `${JSON.stringify({ type: e.type, object: { kind: KINDS[resource], apiVersion: 'v1', ...e.obj } })}\n`,
          );
      if (this.endWatchesAtOnce) {
        res.end();
        return;
      }
      const watch = { resource, res, filter };
      this.watches.add(watch);
      res.on('close', () => this.watches.delete(watch));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: `${KINDS[resource]}List`,
        apiVersion: 'v1',
        metadata: { resourceVersion: String(this.rv) },
        items: [...this.objects[resource].values()].filter(filter),
      }),
    );
  }
}

/** Only what the agent uses: `spec.nodeName=NAME`; anything else is undefined (a 400). */
function selectorFilter(selector: string | null): ((o: Obj) => boolean) | undefined {
  if (!selector) return () => true;
  const m = /^spec\.nodeName=(.+)$/.exec(selector);
  return m ? (o) => o.spec?.nodeName === m[1] : undefined;
}

/** A pod as kubelet reports it once running. */
export function runningPod(p: {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  ip: string;
  containers: { name: string; id: string }[];
  labels?: Record<string, string>;
  /** Its controlling owner (a DaemonSet, a ReplicaSet). */
  owner?: { kind: string; name: string };
}) {
  return {
    metadata: {
      name: p.name,
      namespace: p.namespace,
      uid: p.uid,
      labels: p.labels ?? {},
      ...(p.owner
        ? {
            ownerReferences: [
              { apiVersion: 'apps/v1', ...p.owner, uid: `${p.uid}-owner`, controller: true },
            ],
          }
        : {}),
    },
    spec: { nodeName: p.node, containers: p.containers.map((c) => ({ name: c.name, image: 'x' })) },
    status: {
      phase: 'Running',
      podIP: p.ip,
      podIPs: [{ ip: p.ip }],
      containerStatuses: p.containers.map((c) => ({
        name: c.name,
        containerID: `containerd://${c.id}`,
        image: 'x',
        imageID: 'x',
        ready: true,
        restartCount: 0,
      })),
    },
  };
}

/** A namespace with labels. */
export function namespaceObject(name: string, labels: Record<string, string> = {}) {
  return { metadata: { name, uid: `ns-${name}`, labels } };
}
