// A lab process's CPU as Kubernetes sets a container's: the weight its `requests.cpu` gives
// it, and its `limits.cpu`, a CFS quota per period (cgroup v2 `cpu.weight` and `cpu.max`,
// or v1 `cpu.shares`, `cpu.cfs_quota_us` and `cpu.cfs_period_us` where the cpu controller
// is only on v1, as on hybrid hosts), in a cgroup of its own. A process over its quota is
// throttled until the next period: the queueing a CPU-limited sidecar causes near its
// saturation. The cgroup is in the lab's ledger, so it is removed with the lab (after its
// processes).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Ledger } from './ledger.js';

export interface CpuLimit {
  /** Cores: quota / period, e.g. 0.2 for Kubernetes' `200m`. */
  cores: number;
  /** The CFS period; Kubernetes' default is 100 ms. */
  periodUs?: number;
}

export interface CpuController {
  version: 1 | 2;
  /** Where new cgroups are made: the mount point of the hierarchy with the controller. */
  root: string;
}

export interface CpuThrottling {
  periods: number;
  throttledPeriods: number;
  throttledMs: number;
}

export interface CpuLimitedGroup {
  path: string;
  version: 1 | 2;
  /** Moves a process (with all its threads) into the group. */
  add(pid: number): void;
  /** The kernel's throttling counters since the group was made. */
  throttling(): CpuThrottling;
}

const DEFAULT_PERIOD_US = 100_000;

/**
 * The hierarchy that has the cpu controller, from /proc/self/mounts text and a reader of
 * cgroup files: cgroup v2 when its root offers `cpu`, else the v1 mount with `cpu` among
 * its options.
 */
export function findCpuController(
  mounts: string,
  read: (path: string) => string | undefined,
): CpuController | undefined {
  const entries = mounts
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f.length >= 4);
  for (const [, point, type] of entries) {
    if (type !== 'cgroup2' || !point) continue;
    const controllers = read(join(point, 'cgroup.controllers'))?.trim().split(/\s+/) ?? [];
    if (controllers.includes('cpu')) return { version: 2, root: point };
  }
  for (const [, point, type, options] of entries) {
    if (type === 'cgroup' && point && options?.split(',').includes('cpu'))
      return { version: 1, root: point };
  }
  return undefined;
}

/** The files (relative to the group) and contents that set the limit, in order. */
export function cpuLimitWrites(version: 1 | 2, limit: CpuLimit): [string, string][] {
  const period = limit.periodUs ?? DEFAULT_PERIOD_US;
  if (!(limit.cores > 0) || !Number.isInteger(period) || period < 1000 || period > 1_000_000)
    throw new RangeError(`bad CPU limit ${limit.cores} cores per ${period} us`);
  // The kernel refuses quotas below 1 ms.
  const quota = Math.max(1000, Math.round(limit.cores * period));
  return version === 2
    ? [['cpu.max', `${quota} ${period}`]]
    : [
        ['cpu.cfs_period_us', String(period)],
        ['cpu.cfs_quota_us', String(quota)],
      ];
}

/**
 * The files and contents that give a group the CPU weight Kubernetes gives a container
 * for its `requests.cpu`: cpu.shares of millicores x 1024 / 1000 (at least 2, which is
 * also a BestEffort container's), or on v2 the weight the kubelet converts those shares to.
 * Weights only matter when CPUs are contended: they split the CPU between the busy.
 */
export function cpuRequestWrites(version: 1 | 2, requestMillicores: number): [string, string][] {
  if (!(requestMillicores >= 0)) throw new RangeError(`bad CPU request ${requestMillicores}m`);
  const shares = Math.max(2, Math.floor((requestMillicores * 1024) / 1000));
  return version === 2
    ? [['cpu.weight', String(1 + Math.floor(((shares - 2) * 9999) / 262_142))]]
    : [['cpu.shares', String(shares)]];
}

/** Parses cpu.stat of either version. */
export function parseCpuStat(text: string): CpuThrottling {
  const field = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    periods: field('nr_periods'),
    throttledPeriods: field('nr_throttled'),
    // v2 counts microseconds, v1 nanoseconds.
    throttledMs: /^throttled_usec /m.test(text)
      ? field('throttled_usec') / 1000
      : field('throttled_time') / 1e6,
  };
}

const readOrUndefined = (path: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** Makes the group `name` (recorded in the ledger first) with the limit set. */
export function createCpuLimitedGroup(
  ledger: Ledger,
  name: string,
  limit: CpuLimit,
): CpuLimitedGroup {
  return createCpuGroup(ledger, name, { limit });
}

/** A container's CPU resources, as its pod spec gives them. */
export interface CpuResources {
  /** `requests.cpu` in millicores: the group's weight (0: a BestEffort container's). */
  requestMillicores?: number;
  /** `limits.cpu`: a quota per period. */
  limit?: CpuLimit;
}

/** Makes the group `name` (recorded in the ledger first) with the resources set. */
export function createCpuGroup(
  ledger: Ledger,
  name: string,
  resources: CpuResources,
): CpuLimitedGroup {
  const controller = findCpuController(readFileSync('/proc/self/mounts', 'utf8'), readOrUndefined);
  if (!controller) throw new Error('no cgroup hierarchy with the cpu controller is mounted');
  if (controller.version === 2) {
    // A v2 child gets the cpu controller only if its parent hands it down.
    const subtree = join(controller.root, 'cgroup.subtree_control');
    if (!(readOrUndefined(subtree) ?? '').split(/\s+/).includes('cpu'))
      writeFileSync(subtree, '+cpu');
  }
  const path = join(controller.root, name);
  ledger.recordCgroup(path);
  mkdirSync(path);
  const writes = [
    ...(resources.requestMillicores === undefined
      ? []
      : cpuRequestWrites(controller.version, resources.requestMillicores)),
    ...(resources.limit ? cpuLimitWrites(controller.version, resources.limit) : []),
  ];
  for (const [file, content] of writes) writeFileSync(join(path, file), content);
  return {
    path,
    version: controller.version,
    add: (pid) => writeFileSync(join(path, 'cgroup.procs'), String(pid)),
    throttling: () => parseCpuStat(readFileSync(join(path, 'cpu.stat'), 'utf8')),
  };
}
