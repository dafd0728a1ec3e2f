// Where the agent gets its records: the compiled runner, or, when it cannot load, the
// bpftrace fallback (coarser), with the reason said rather than swallowed.
import { BpftraceSource } from './bpftrace-source.js';
import { ProbeError, ProbeSource, type ProbeSourceOptions } from './probe-source.js';

export type RecordSource = ProbeSource | BpftraceSource;

export interface StartedSource {
  source: RecordSource;
  /** Why the runner was not used, when the fallback is. */
  fallbackReason?: string;
}

export async function startRecordSource(
  options: ProbeSourceOptions & { bpftrace?: string } = {},
): Promise<StartedSource> {
  try {
    return { source: await ProbeSource.start(options) };
  } catch (error) {
    if (!(error instanceof ProbeError)) throw error;
    try {
      return {
        source: await BpftraceSource.start(options.bpftrace),
        fallbackReason: error.message,
      };
    } catch (fallback) {
      throw new ProbeError(
        `${error.message}; and the bpftrace fallback failed too: ${(fallback as Error).message}`,
      );
    }
  }
}
