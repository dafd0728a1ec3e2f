// wrk's report, as Debian's wrk prints it with --latency (reports captured from real runs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWrkReport } from '../../bench/wrk.js';

const ok = `Running 1s test @ http://127.0.0.1:18080/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    24.21ms    8.43ms  39.71ms   74.30%
    Req/Sec   163.36     22.10   191.00     54.55%
  Latency Distribution
     50%   25.87ms
     75%   29.47ms
     90%   32.56ms
     99%   39.22ms
  179 requests in 1.10s, 2.32MB read
Requests/sec:    162.81
Transfer/sec:      2.11MB
`;

const failing = `Running 1s test @ http://127.0.0.1:18080/nope
  1 threads and 4 connections
  Latency Distribution
     50%  812.00us
     75%    2.72ms
     90%    3.35ms
     99%    1.33s
  1639 requests in 1.00s, 832.30KB read
  Socket errors: connect 0, read 2, write 0, timeout 5
  Non-2xx or 3xx responses: 1639
Requests/sec:   1637.67
Transfer/sec:    831.63KB
`;

test('a clean report: requests, rate and quantiles in ms', () => {
  assert.deepEqual(parseWrkReport(ok), {
    requests: 179,
    requestsPerS: 162.81,
    p50Ms: 25.87,
    p99Ms: 39.22,
    errors: 0,
  });
});

test('units are converted and every kind of error is counted', () => {
  const r = parseWrkReport(failing);
  assert.equal(r.p50Ms, 0.812);
  assert.equal(r.p99Ms, 1330);
  assert.equal(r.errors, 1639 + 7);
});

test('a report without its figures is refused, not read as zero', () => {
  assert.throws(
    () => parseWrkReport('unable to connect to 127.0.0.1:1 Connection refused'),
    /not a wrk report/,
  );
  assert.throws(() => parseWrkReport(ok.replace(/ {5}99%.*\n/, '')), /no 99% latency/);
});
