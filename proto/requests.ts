// How many requests an end's counters stand for. Direction changes count a request and
// its reply as one exchange, which is the request count wherever requests take turns; a
// batch of requests read or written together (HTTP/2 multiplexers, gRPC clients with calls
// in flight) is one direction change, so on connections the kernel followed from HTTP/2's
// preface the requests its frames opened are counted instead (http2_requests, with the
// exchanges of those connections in http2_exchanges: probes/src/http2_frames.bpf.h). On a
// proxy's multiplexed upstream whose bytes are not read (HTTP/2 inside TLS), likewise the
// requests the proxy's hop pairing forwarded on it (forwarded_requests, with those
// connections' exchanges in forwarded_exchanges). Pure: the collector's counts and the
// viewer's series both come from here.

/** The counters an end's requests come from, by their TypeScript names. */
export interface RequestCounters {
  exchanges: number;
  multiplexedExchanges: number;
  http2Exchanges: number;
  http2Requests: number;
  forwardedExchanges: number;
  forwardedRequests: number;
}

/** An end's requests (or a sum of ends'). */
export function requestsOf(c: RequestCounters): number {
  // Never below 0 from the exchanges' part: the kernel adds an exchange to http2_exchanges
  // (or forwarded_exchanges) and to exchanges or multiplexed_exchanges through one
  // record, but a reader racing the writer (the runner's drain of a live slot) could see
  // one and not the other.
  return (
    Math.max(0, c.exchanges + c.multiplexedExchanges - c.http2Exchanges - c.forwardedExchanges) +
    c.http2Requests +
    c.forwardedRequests
  );
}

/** The same from an end's stored sums, by column name (stores before HTTP/2 counting: 0). */
export function requestsOfSums(sums: Readonly<Record<string, number | undefined>>): number {
  return requestsOf({
    exchanges: sums.exchanges ?? 0,
    multiplexedExchanges: sums.multiplexed_exchanges ?? 0,
    http2Exchanges: sums.http2_exchanges ?? 0,
    http2Requests: sums.http2_requests ?? 0,
    forwardedExchanges: sums.forwarded_exchanges ?? 0,
    forwardedRequests: sums.forwarded_requests ?? 0,
  });
}
