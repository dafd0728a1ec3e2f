// A Watch that does not reopen in a tight loop. ListWatch resumes a watch the server ends
// cleanly at once, from its resourceVersion: right for an API server that closes a watch
// after minutes, but a server or proxy that ends every watch as soon as it opens would
// have every agent of the cluster reconnect as fast as it can. So a watch that ended
// cleanly within `minLifeMs` of opening without delivering an event makes the next open
// wait for the backoff's next delay; a watch that lived or delivered does not. (A watch
// that ended with an error is paced by WatchedSet's own retry, not here.)
// It also hands on only what a watched set keeps of each object (`keep`), so that
// ListWatch's own cache holds no more than the set does.
import { type KubeConfig, type KubernetesObject, Watch } from '@kubernetes/client-node';
import type { Backoff } from '../shipping/backoff.js';

type WatchCallback = Parameters<Watch['watch']>[2];
type DoneCallback = Parameters<Watch['watch']>[3];

export class PacedWatch extends Watch {
  private openedMs = 0;
  private delivered = false;
  private endedCleanly = false;
  private closed = false;
  private wait: { timer: NodeJS.Timeout; resolve: () => void } | undefined;

  constructor(
    config: KubeConfig,
    private readonly pacing: {
      backoff: Backoff;
      /** Called for each open that waits. */
      onPaced?: () => void;
      minLifeMs?: number;
      /** What of each object to hand on (its metadata's resourceVersion kept); all of it by default. */
      keep?: (obj: KubernetesObject) => KubernetesObject;
    },
  ) {
    super(config);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback,
    done: DoneCallback,
  ): Promise<AbortController> {
    const quick =
      this.endedCleanly &&
      !this.delivered &&
      Date.now() - this.openedMs < (this.pacing.minLifeMs ?? 1000);
    if (quick) {
      this.pacing.onPaced?.();
      await new Promise<void>((resolve) => {
        this.wait = { timer: setTimeout(resolve, this.pacing.backoff.next()), resolve };
      });
      this.wait = undefined;
    }
    if (this.closed) {
      // Closed while waiting: hand ListWatch a watch that is already over.
      const aborted = new AbortController();
      aborted.abort();
      return aborted;
    }
    this.openedMs = Date.now();
    this.delivered = false;
    this.endedCleanly = false;
    return super.watch(
      path,
      queryParams,
      (phase, apiObj, watchObj) => {
        this.delivered = true;
        // An ERROR's object is a Status, not one of the set's.
        const keep = phase === 'ERROR' ? undefined : this.pacing.keep;
        callback(phase, keep ? keep(apiObj) : apiObj, watchObj);
      },
      (err) => {
        this.endedCleanly = !err;
        done(err);
      },
    );
  }

  /** No more opens; one waiting to open gives up now. */
  close(): void {
    this.closed = true;
    if (this.wait) {
      clearTimeout(this.wait.timer);
      this.wait.resolve();
    }
  }
}
