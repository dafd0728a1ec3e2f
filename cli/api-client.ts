// A small client of the collector's HTTP API for the CLI: bearer token, JSON in and out,
// and the API's { error, message } turned into an error that says it.
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export class ApiClient {
  constructor(
    private readonly server: string,
    private readonly token?: string,
  ) {}

  async request(
    method: string,
    path: string,
    body?: { json: unknown } | { bytes: Uint8Array },
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let payload: string | Uint8Array | undefined;
    if (body && 'json' in body) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body.json);
    } else if (body) {
      headers['content-type'] = 'application/octet-stream';
      payload = body.bytes;
    }
    let response: Response;
    try {
      response = await fetch(new URL(path, this.server), { method, headers, body: payload });
    } catch (error) {
      const cause = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
      throw new ApiError(`cannot reach the collector at ${this.server}: ${cause}`, 0);
    }
    if (!response.ok) {
      const text = await response.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {}
      throw new ApiError(`${response.status}: ${message}`, response.status);
    }
    return response;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.request(
      method,
      path,
      body === undefined ? undefined : { json: body },
    );
    return response.status === 204 ? (undefined as T) : ((await response.json()) as T);
  }
}
