// cgroup v2 id -> path, for a process /proc no longer has: the kernel gives its cgroup id
// (the directory's inode), and the path names its container and pod. Paths are learned
// from every process resolved through /proc, and found by walking the hierarchy when an
// id is new (at most once a second, bounded in directories). Bounded in entries.
import { type Dirent, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface CgroupPathsOptions {
  /** Where the cgroup v2 hierarchy is mounted. */
  root: string;
  /** Ids remembered at most (the oldest forgotten first). */
  maxEntries?: number;
  /** Directories one walk visits at most. */
  maxWalk?: number;
  /** A walk at most this often. */
  walkEveryMs?: number;
}

export class CgroupPaths {
  private readonly paths = new Map<number, string>();
  private walkedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: CgroupPathsOptions) {}

  learn(id: number, path: string): void {
    if (!id || !path) return;
    this.paths.delete(id);
    this.paths.set(id, path);
    const max = this.options.maxEntries ?? 65_536;
    while (this.paths.size > max) this.paths.delete(this.paths.keys().next().value!);
  }

  /** The path of a cgroup id ('/kubepods.slice/...'), or undefined when not found. */
  pathOf(id: number, nowMs = Date.now()): string | undefined {
    const known = this.paths.get(id);
    if (known !== undefined || !id) return known;
    if (nowMs - this.walkedAt < (this.options.walkEveryMs ?? 1000)) return undefined;
    this.walkedAt = nowMs;
    this.walk();
    return this.paths.get(id);
  }

  /** Breadth first from the root, learning every directory's id on the way. */
  private walk(): void {
    const root = this.options.root;
    const budget = this.options.maxWalk ?? 20_000;
    const queue = [''];
    for (let visited = 0; queue.length > 0 && visited < budget; visited++) {
      const relative = queue.shift()!;
      let entries: Dirent[];
      try {
        entries = readdirSync(join(root, relative), { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const path = `${relative}/${e.name}`;
        try {
          this.learn(statSync(join(root, path)).ino, path);
        } catch {
          continue;
        }
        queue.push(path);
      }
    }
  }
}
