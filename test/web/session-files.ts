// Session files with a chosen sidecar added latency, for the viewer's compare test.
import {
  canonicalSession,
  FORMAT_VERSION,
  SMP_VERSION,
} from '../../collector/sessions/session-file.js';
import type { SessionExport } from '../../proto/gen/tollgate/v1.js';
import { fromValues } from '../../proto/histogram.js';

/**
 * One pod `shop/web` whose inbound request and response hops each take `hopNs`: 2,000
 * exchanges joined per exchange (2 x `hopNs` each), 20 more unpaired.
 */
export function sessionWithAddedLatency(
  id: string,
  name: string,
  hopNs: number,
  start: number,
): SessionExport {
  const hops = fromValues(Array.from({ length: 2000 }, () => hopNs));
  return canonicalSession({
    formatVersion: FORMAT_VERSION,
    smpVersion: SMP_VERSION,
    id,
    name,
    startUnixMs: start,
    endUnixMs: start + 60_000,
    tollgate: {
      pods: [
        {
          pod: {
            namespace: 'shop',
            name: 'web',
            uid: '',
            node: 'node-1',
            source: 'POD_SOURCE_NETNS',
            labels: {},
          },
          proxy: 'envoy',
          inboundRequestHop: hops,
          inboundResponseHop: hops,
          inboundAdded: fromValues(Array.from({ length: 2000 }, () => 2 * hopNs)),
          inboundMethod: 'HOP_METHOD_ARRIVAL_TO_FORWARD',
          inboundUnpaired: 20,
          requests: 2000,
          sidecarCpuMsPerThousandRequests: 50,
        },
      ],
    },
  } as unknown as SessionExport);
}
