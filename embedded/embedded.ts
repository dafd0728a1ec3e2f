// Embedded mode: the collector and the node's agent in one process, on loopback, for one
// host and one user: what `tollgate up` and the demo run. Its own home, so that the CLI
// and the lab both call it and neither depends on the other.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Credentials } from '../collector/auth.js';
import { Collector, DEFAULT_DATA_DIR } from '../collector/collector.js';
import { DEFAULT_LOAD_TARGETS } from '../collector/sessions/load-policy.js';
import { Agent } from '../daemonset/agent.js';

/** An admin token for the one local user (it reads too) and an ingest token for the agent. */
export function newLocalCredentials(): Credentials {
  const token = () => randomBytes(24).toString('base64url');
  return { ingest: token(), admin: token() };
}

/** The viewer's address with the sign-in token, when there is one. */
export function viewerLink(httpUrl: string, credentials: Credentials): string {
  const token = credentials.admin ?? credentials.read;
  return token === undefined ? httpUrl : `${httpUrl}/?token=${token}`;
}

export interface Embedded {
  collector: Collector;
  agent: Agent;
  stop(): Promise<void>;
}

/** Collector, then the local agent shipping to it: what `tollgate up` and the demo run. */
export async function startEmbedded(options: {
  dataDir?: string;
  database?: string;
  httpPort: number;
  grpcPort: number;
  intervalMs: number;
  credentials?: Credentials;
}): Promise<Embedded> {
  const collector = await Collector.start({
    database: options.database ?? join(options.dataDir ?? DEFAULT_DATA_DIR, 'tollgate.db'),
    grpc: { host: '127.0.0.1', port: options.grpcPort },
    http: { host: '127.0.0.1', port: options.httpPort },
    credentials: options.credentials,
    // One host, one user: the load may also go to this host's own services.
    loadPolicy: { targets: [...DEFAULT_LOAD_TARGETS, '127.0.0.0/8', '::1', 'localhost'] },
  });
  let agent: Agent;
  try {
    agent = await Agent.start({
      collector: collector.grpcAddress,
      intervalMs: options.intervalMs,
      token: options.credentials?.ingest,
    });
  } catch (error) {
    await collector.stop();
    throw error;
  }
  return {
    collector,
    agent,
    async stop() {
      await agent.stop();
      await collector.stop();
    },
  };
}
