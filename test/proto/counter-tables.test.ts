// The hop and loss tables' rules, against figures worked out by hand: which kernel counters
// make which of HopReport's, and which kernel causes make which of the agent's loss figures.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addHopCounters, zeroHopReportCounters } from '../../proto/hop-metrics.js';
import { lossFigures } from '../../proto/loss-metrics.js';

test("a kernel hop record's counters add into HopReport's as each counter's doc says", () => {
  const report = zeroHopReportCounters();
  const record = {
    exchanges: 8,
    unpaired: 2,
    requestNsSum: 1,
    responseNsSum: 1,
    addedNsSum: 1,
    unmatchedForwards: 5,
    arrivalUnknown: 7,
    onCpuNs: 3000,
    handoffs: 4,
    neighbourWaitNs: 9000,
    replyHandoffs: 5,
  };
  addHopCounters(report, record);
  addHopCounters(report, { ...record, exchanges: 1, unpaired: 0 });
  // requests: exchanges seen complete, paired or not (8 + 2, then 1 + 0).
  assert.deepEqual(report, {
    requests: 11,
    unpaired: 2,
    unmatchedForwards: 10,
    arrivalUnknown: 14,
    onCpuNs: 6000,
    handoffs: 8,
    neighbourWaitNs: 18000,
    replyHandoffs: 10,
  });
});

test("the kernel's causes of loss add into the agent's figures, the buffer, stale states and hand-offs not noted apart", () => {
  assert.deepEqual(
    lossFigures({
      edgeMapFull: 1,
      histMapFull: 2,
      sockMapFull: 4,
      tupleMapFull: 8,
      hopQueueFull: 16,
      hopMapFull: 32,
      processEventsFull: 64,
      listenerMapFull: 128,
      sockStateStale: 256,
      handoffMapFull: 512,
      http2MapFull: 1024,
    }),
    // Every map and queue but the hand-offs', whose overflow loses nothing: 1 + 2 + 4 + 8
    // + 16 + 32 + 128 + 1024.
    { kernelMapFull: 1215, kernelBufferFull: 64, staleSocketStates: 256, handoffsNotNoted: 512 },
  );
});
