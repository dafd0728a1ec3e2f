// /proc parsing for resource samples, including process names built to confuse a parser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  parseStatCpuTicks,
  parseStatusRss,
  readProcessResources,
} from '../../daemonset/proc-resources.js';

test('utime and stime are read after the last ")" whatever the process calls itself', () => {
  const fields = 'S 1 2 3 4 5 6 7 8 9 10 1234 567 0 0 20 0 1 0 99 0';
  assert.deepEqual(parseStatCpuTicks(`42 (haproxy) ${fields}`), { user: 1234, system: 567 });
  assert.deepEqual(parseStatCpuTicks(`42 (a) b) 9 9 (x) ${fields}`), { user: 1234, system: 567 });
  assert.throws(() => parseStatCpuTicks('42 (truncated'), /malformed/);
});

test('VmRSS in kB becomes bytes; kernel threads have none', () => {
  assert.equal(parseStatusRss('Name:\tx\nVmRSS:\t   15400 kB\nThreads:\t1\n'), 15400 * 1024);
  assert.equal(parseStatusRss('Name:\tkthreadd\n'), 0);
});

test('our own process reads as live, with CPU spent and memory resident', () => {
  const start = Date.now();
  while (Date.now() - start < 50); // burn a little CPU so the tick counters move
  const r = readProcessResources(process.pid)!;
  assert.ok(r.cpuUserNs + r.cpuSystemNs > 0);
  assert.ok(
    Math.abs(r.rssBytes - process.memoryUsage().rss) / r.rssBytes < 0.2,
    'VmRSS ~ node rss',
  );
  assert.equal(readProcessResources(2 ** 22 + 1), undefined, 'no such pid');
});
