// A live copy of one kind of Kubernetes object: list, then watch from the list's
// resourceVersion, as an informer does. On top of client-node's ListWatch it adds what a
// node agent needs to run unattended for months:
// - reconnect with jittered backoff when the watch fails (ListWatch stops on an error);
//   a watch the server simply closes is resumed at once from the last resourceVersion
//   (unless it ended as soon as it opened: PacedWatch), and a 410 Gone relists;
// - a periodic resync: a fresh list every `resyncMs`, swapped in whole, so an event lost
//   anywhere is repaired within that time;
// - counters, for the agent's own metrics.
import { type KubeConfig, type KubernetesObject, ListWatch } from '@kubernetes/client-node';
import { Backoff, type BackoffOptions } from '../shipping/backoff.js';
import { PacedWatch } from './paced-watch.js';

export interface WatchedSetOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** The API path to watch, e.g. /api/v1/pods. */
  path: string;
  /** Lists the same objects (with the same selector) for the initial state and resyncs. */
  list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
  fieldSelector?: string;
  /** Relist this often (default 10 minutes); 0 for never. */
  resyncMs?: number;
  backoff?: BackoffOptions;
  /** Called after every change to the set (add, update, delete, resync). */
  onChange?: () => void;
  /**
   * What of each object is kept, from lists and watch events alike (metadata.uid and
   * resourceVersion must stay): a cluster-wide set holds only what its index needs.
   */
  keep?: (obj: T) => T;
}

export interface WatchedSetStats {
  objects: number;
  lists: number;
  /** Watches that ended, by the server closing them or by an error. */
  watchRestarts: number;
  /** Watch opens delayed because the watch before ended at once, with no event. */
  watchesPaced: number;
  errors: number;
  lastError: string | null;
  /** True once the first list has arrived. */
  synced: boolean;
}

export class WatchedSet<T extends KubernetesObject> {
  /** By UID. */
  private objects = new Map<string, T>();
  private current: { lw: ListWatch<T>; watch: PacedWatch } | undefined;
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly counters = {
    lists: 0,
    watchRestarts: 0,
    watchesPaced: 0,
    errors: 0,
    lastError: null as string | null,
  };
  private synced = false;

  constructor(private readonly options: WatchedSetOptions<T>) {
    this.backoff = new Backoff(options.backoff ?? { initialMs: 500, maxMs: 30_000 });
  }

  /** Starts watching; resolves after the first list (or rejects with its error). */
  async start(): Promise<void> {
    await this.relist();
    const resyncMs = this.options.resyncMs ?? 600_000;
    if (resyncMs > 0) {
      this.resyncTimer = setInterval(() => {
        this.relist().catch(() => {}); // counted in errors; the retry timer takes over
      }, resyncMs);
      this.resyncTimer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.resyncTimer);
    this.closeCurrent();
    this.current = undefined;
  }

  /** Stops the current ListWatch, and a paced open of its watch still waiting. */
  private closeCurrent(): void {
    this.current?.watch.close();
    this.current?.lw.stop();
  }

  values(): IterableIterator<T> {
    return this.objects.values();
  }

  stats(): WatchedSetStats {
    return { objects: this.objects.size, synced: this.synced, ...this.counters };
  }

  /** A fresh ListWatch: its list becomes the whole set, then its events update it. */
  private async relist(): Promise<void> {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    // The new list fills `fresh`; once it is complete, `fresh` becomes the set and the
    // watch's events go on updating it in place.
    const fresh = new Map<string, T>();
    const changed = () => {
      if (this.objects === fresh) this.options.onChange?.();
    };
    const keep = this.options.keep;
    const watch = new PacedWatch(this.options.kubeConfig, {
      backoff: this.backoff,
      onPaced: () => this.counters.watchesPaced++,
      keep: keep && ((obj) => keep(obj as T)),
    });
    const lw = new ListWatch<T>(
      this.options.path,
      watch,
      async () => {
        const list = await this.options.list();
        this.counters.lists++;
        return keep ? { ...list, items: list.items.map(keep) } : list;
      },
      false,
      undefined,
      this.options.fieldSelector,
    );
    const put = (obj: T) => {
      const uid = obj.metadata?.uid;
      if (!uid) return;
      fresh.set(uid, obj);
      this.backoff.reset(); // the watch works again
      changed();
    };
    lw.on('add', put);
    lw.on('update', put);
    lw.on('delete', (obj) => {
      const uid = obj.metadata?.uid;
      if (uid && fresh.delete(uid)) changed();
    });
    // CONNECT fires before every (re)watch; after the first one it means the previous
    // watch ended and ListWatch is resuming it from the last resourceVersion.
    let connects = 0;
    lw.on('connect', () => {
      if (connects++ > 0) this.counters.watchRestarts++;
    });
    // ListWatch reports a failed list or watch through 'error' and stops; it never throws.
    let startError: unknown;
    let starting = true;
    lw.on('error', (err) => {
      this.counters.errors++;
      this.counters.lastError = describe(err);
      if (starting) {
        startError = err;
        return;
      }
      this.counters.watchRestarts++;
      this.scheduleRetry(lw, true);
    });
    this.closeCurrent();
    this.current = { lw, watch };
    await lw.start();
    starting = false;
    if (this.current?.lw !== lw) return;
    if (startError !== undefined) {
      // Keep the old set (stale beats empty) and try again later.
      this.scheduleRetry(lw, false);
      throw startError instanceof Error ? startError : new Error(describe(startError));
    }
    this.objects = fresh;
    this.synced = true;
    this.backoff.reset();
    this.options.onChange?.();
  }

  /** After a failure: resume `lw`'s watch from its resourceVersion, or list afresh. */
  private scheduleRetry(lw: ListWatch<T>, resume: boolean): void {
    if (this.stopped || this.current?.lw !== lw) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.stopped || this.current?.lw !== lw) return;
      if (resume) lw.start().catch(() => {});
      else this.relist().catch(() => {});
    }, this.backoff.next());
    this.retryTimer.unref();
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const status = (err as Error & { statusCode?: number; code?: number }).statusCode;
    return status ? `${err.message} (HTTP ${status})` : err.message;
  }
  return String(err);
}

/**
 * A directory over one watched set: indexes built from the set by `build`, rebuilt lazily
 * on the first lookup after a change (lookups are many, changes few).
 */
export abstract class WatchedDirectory<T extends KubernetesObject, Index> {
  private readonly set: WatchedSet<T>;
  /** Changes with every change of the set. */
  version = 0;
  private built: { version: number; index: Index } | undefined;

  constructor(options: Omit<WatchedSetOptions<T>, 'onChange'>) {
    this.set = new WatchedSet<T>({
      ...options,
      onChange: () => {
        this.version++;
      },
    });
  }

  protected abstract build(objects: Iterable<T>): Index;

  protected index(): Index {
    if (this.built?.version !== this.version)
      this.built = { version: this.version, index: this.build(this.set.values()) };
    return this.built.index;
  }

  /** Resolves after the first list; rejects when the API cannot be listed. */
  async start(): Promise<this> {
    await this.set.start();
    return this;
  }

  stop(): void {
    this.set.stop();
  }

  stats(): WatchedSetStats {
    return this.set.stats();
  }
}
