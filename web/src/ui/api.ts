// The collector's HTTP API from the browser. Signed in by the link `tollgate up` prints
// (/?token=), the browser holds an HttpOnly cookie the collector set, which every request
// and the WebSocket carry by themselves. Otherwise a token comes from the page's #token=
// fragment once, or from the login form, and is kept for the tab in sessionStorage;
// every request carries it as a bearer token and the WebSocket as ?token= (browsers
// cannot set its headers). Errors carry the API's own message.
import type {
  AgentView,
  Comparison,
  EdgeDetail,
  LiveMessage,
  PodDetail,
  SessionDetail,
  SessionSummary,
  StartSpec,
  TopologyResponse,
} from '../model/api-types.js';

const TOKEN_KEY = 'tollgate-token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function takeTokenFromUrl(): void {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const t = params.get('token');
  if (t === null) return;
  sessionStorage.setItem(TOKEN_KEY, t);
  // Out of the address bar and history; the rest of the fragment (the view) stays.
  params.delete('token');
  const rest = params.toString();
  history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
}

export function setToken(token: string): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const t = token();
  if (t) headers.set('authorization', `Bearer ${t}`);
  const response = await fetch(path, { ...init, headers });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = (await response.json()) as { message?: string };
      if (body.message) message = body.message;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, message);
  }
  return response;
}

async function json<T>(path: string, init?: RequestInit): Promise<T> {
  return (await (await request(path, init)).json()) as T;
}

const post = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

export const api = {
  topology: (range: string) => json<TopologyResponse>(`/api/topology?${range}`),
  edge: (id: string, range: string) =>
    json<EdgeDetail>(`/api/edges/${encodeURIComponent(id)}?${range}`),
  pod: (namespace: string, name: string, range: string) =>
    json<PodDetail>(
      `/api/pods/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}?${range}`,
    ),
  agents: () => json<AgentView[]>('/api/agents?window=300'),
  sessions: () => json<SessionSummary[]>('/api/sessions'),
  session: (id: string) => json<SessionDetail>(`/api/sessions/${encodeURIComponent(id)}`),
  startSession: (spec: StartSpec) => json<SessionSummary>('/api/sessions', post(spec)),
  stopSession: (id: string) =>
    json<SessionSummary>(`/api/sessions/${encodeURIComponent(id)}/stop`, { method: 'POST' }),
  deleteSession: (id: string) =>
    request(`/api/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' }).then(() => undefined),
  exportSession: async (id: string, format: 'json' | 'pb') =>
    (await request(`/api/sessions/${encodeURIComponent(id)}/export?format=${format}`)).blob(),
  importSession: (bytes: ArrayBuffer, format: 'json' | 'pb') =>
    json<SessionSummary>(`/api/sessions/import?format=${format}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    }),
  compare: (a: string, b: string) =>
    json<Comparison>(`/api/sessions/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`),
};

/**
 * The live topology: a snapshot, then deltas. Reconnects with backoff (1 s doubling to
 * 15 s) until closed; each reconnect starts with a fresh snapshot, so nothing is missed.
 */
export class LiveSocket {
  private socket: WebSocket | undefined;
  private closed = false;
  private retryMs = 1000;
  private timer: number | undefined;

  constructor(
    private readonly onMessage: (m: LiveMessage) => void,
    private readonly onStatus: (status: 'connecting' | 'live' | 'offline') => void,
  ) {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    this.onStatus('connecting');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const t = token();
    const socket = new WebSocket(
      `${scheme}://${location.host}/api/live${t ? `?token=${encodeURIComponent(t)}` : ''}`,
    );
    this.socket = socket;
    socket.onopen = () => {
      this.retryMs = 1000;
      this.onStatus('live');
    };
    socket.onmessage = (event) => {
      try {
        this.onMessage(JSON.parse(String(event.data)) as LiveMessage);
      } catch (error) {
        console.error('tollgate: bad live message', error);
      }
    };
    socket.onclose = () => {
      if (this.closed) return;
      this.onStatus('offline');
      this.timer = window.setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(15_000, this.retryMs * 2);
    };
  }

  close(): void {
    this.closed = true;
    window.clearTimeout(this.timer);
    this.socket?.close();
  }
}

/** Saves a blob as a file (the browser's download). */
export function download(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
