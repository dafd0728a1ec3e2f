// Numbers as people read them in panels and tooltips. Pure.

/** Milliseconds with three significant digits, switching to µs or s where clearer. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  const abs = Math.abs(ms);
  if (abs === 0) return '0 ms';
  if (abs < 1) return `${trim(ms * 1000)} µs`;
  if (abs >= 1000) return `${trim(ms / 1000)} s`;
  return `${trim(ms)} ms`;
}

/** A signed difference, with its unit. */
export function formatDelta(value: number | null, unit: string): string {
  if (value === null || !Number.isFinite(value)) return '–';
  const sign = value > 0 ? '+' : value < 0 ? '−' : '±';
  const magnitude = Math.abs(value);
  return unit === 'ms' ? `${sign}${formatMs(magnitude)}` : `${sign}${trim(magnitude)} ${unit}`;
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${trim(v)} ${units[u]}`;
}

export function formatRate(perS: number | null | undefined, unit = '/s'): string {
  if (perS === null || perS === undefined || !Number.isFinite(perS)) return '–';
  if (Math.abs(perS) >= 1e6) return `${trim(perS / 1e6)}M${unit}`;
  if (Math.abs(perS) >= 1e3) return `${trim(perS / 1e3)}k${unit}`;
  return `${trim(perS)}${unit}`;
}

export function formatPercent(share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return '–';
  return `${trim(share * 100)}%`;
}

export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return Number.isInteger(v) ? v.toLocaleString('en-US') : trim(v);
}

function trim(v: number): string {
  return String(Number(v.toPrecision(3)));
}
