// Finds where HTTP/1.1 responses end in a byte stream, and their status codes: the one
// thing a load generator needs from a response. Pure and incremental (bytes arrive in any
// split), so the load generator can skip node's full HTTP client, whose per-request cost
// capped it at about 8k requests/s on one core (see bench overhead).
// Handles Content-Length and chunked bodies; a response with neither (read to close) and
// anything malformed is an error, which closes the connection.

export interface ParsedResponse {
  status: number;
  /** The server asked to close the connection after this response. */
  close: boolean;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
/** Larger headers are not what the lab's servers send: refuse rather than buffer on. */
const MAX_HEADER_BYTES = 16 * 1024;

type State =
  | { at: 'head' }
  | { at: 'body'; remaining: number }
  | { at: 'chunk-size' }
  | { at: 'chunk-data'; remaining: number }
  | { at: 'trailer' };

export class HttpResponseParseError extends Error {
  override name = 'HttpResponseParseError';
}

export class HttpResponseParser {
  private buffered: Buffer = Buffer.alloc(0);
  private state: State = { at: 'head' };
  private current: ParsedResponse | undefined;

  /** Feeds bytes; returns the responses they completed, in order. Throws on malformed input. */
  push(chunk: Buffer): ParsedResponse[] {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const done: ParsedResponse[] = [];
    for (;;) {
      const finished = this.step();
      if (finished === 'more') break;
      if (finished) done.push(finished);
    }
    return done;
  }

  /** One state transition: a finished response, null (progress, no response yet) or 'more'. */
  private step(): ParsedResponse | null | 'more' {
    const s = this.state;
    switch (s.at) {
      case 'head': {
        const end = this.buffered.indexOf(HEADER_END);
        if (end < 0) {
          if (this.buffered.length > MAX_HEADER_BYTES)
            throw new HttpResponseParseError(`response head over ${MAX_HEADER_BYTES} bytes`);
          return 'more';
        }
        const head = this.buffered.subarray(0, end).toString('latin1');
        this.buffered = this.buffered.subarray(end + 4);
        return this.startBody(head);
      }
      case 'body':
      case 'chunk-data': {
        const take = Math.min(s.remaining, this.buffered.length);
        this.buffered = this.buffered.subarray(take);
        s.remaining -= take;
        if (s.remaining > 0) return 'more';
        if (s.at === 'body') return this.finish();
        // A chunk's data is followed by CRLF, which the chunk-size state skips.
        this.state = { at: 'chunk-size' };
        return null;
      }
      case 'chunk-size': {
        const eol = this.buffered.indexOf(CRLF);
        if (eol < 0) return this.tooLong('chunk size line');
        let line = this.buffered.subarray(0, eol).toString('latin1');
        this.buffered = this.buffered.subarray(eol + 2);
        if (line === '') return null; // the CRLF after the previous chunk's data
        line = line.split(';', 1)[0]!.trim();
        if (!/^[0-9a-fA-F]{1,8}$/.test(line))
          throw new HttpResponseParseError(`bad chunk size '${line.slice(0, 20)}'`);
        const size = Number.parseInt(line, 16);
        this.state = size === 0 ? { at: 'trailer' } : { at: 'chunk-data', remaining: size };
        return null;
      }
      case 'trailer': {
        const eol = this.buffered.indexOf(CRLF);
        if (eol < 0) return this.tooLong('trailer');
        const empty = eol === 0;
        this.buffered = this.buffered.subarray(eol + 2);
        return empty ? this.finish() : null;
      }
    }
  }

  private startBody(head: string): ParsedResponse | null {
    const [statusLine, ...headerLines] = head.split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
    if (!match) throw new HttpResponseParseError(`bad status line '${statusLine?.slice(0, 40)}'`);
    const status = Number(match[1]);
    let length: number | undefined;
    let chunked = false;
    let close = statusLine!.startsWith('HTTP/1.0');
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line
        .slice(colon + 1)
        .trim()
        .toLowerCase();
      if (name === 'content-length') {
        if (!/^\d{1,12}$/.test(value))
          throw new HttpResponseParseError(`bad content-length '${value.slice(0, 20)}'`);
        length = Number(value);
      } else if (name === 'transfer-encoding') chunked = value.includes('chunked');
      else if (name === 'connection') close = value.includes('close');
    }
    // An interim 1xx response is followed by the real one.
    if (status < 200) return null;
    this.current = { status, close };
    // 204 and 304 have no body whatever the headers say.
    if (status === 204 || status === 304) return this.finish();
    if (chunked) this.state = { at: 'chunk-size' };
    else if (length !== undefined) this.state = { at: 'body', remaining: length };
    else throw new HttpResponseParseError('a response with no length (read to close)');
    return null;
  }

  private finish(): ParsedResponse {
    const response = this.current!;
    this.current = undefined;
    this.state = { at: 'head' };
    return response;
  }

  private tooLong(what: string): 'more' {
    if (this.buffered.length > MAX_HEADER_BYTES)
      throw new HttpResponseParseError(`${what} over ${MAX_HEADER_BYTES} bytes`);
    return 'more';
  }
}
