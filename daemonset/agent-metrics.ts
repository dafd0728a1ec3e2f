// The agent's own Prometheus metrics, read from its status at scrape time, so nothing is
// counted twice and a scrape costs one status read. Names follow Prometheus conventions:
// tollgate_agent_ prefix, base units (seconds, bytes), _total on counters.
import { Counter, Gauge, Registry } from 'prom-client';
import { LOSS_METRICS } from '../proto/loss-metrics.js';
import { collectProcessMetrics } from '../proto/process-metrics.js';
import type { AgentStatus } from './agent.js';

type Read = (s: AgentStatus) => number;

/** The agent's registry, and what stops its process metrics' GC observer. */
export function agentRegistry(status: () => AgentStatus): { registry: Registry; stop: () => void } {
  const registry = new Registry();
  const stop = collectProcessMetrics(registry, 'tollgate_agent_process_');
  // One status read per scrape, shared by every metric's collect().
  let cached: { at: number; value: AgentStatus } | undefined;
  const current = () => {
    const now = Date.now();
    if (!cached || now - cached.at > 100) cached = { at: now, value: status() };
    return cached.value;
  };

  const gauge = (name: string, help: string, read: Read) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(current()));
      },
    });
  // Counters whose value the agent already keeps cumulatively: set, not incremented.
  const counter = (name: string, help: string, read: Read) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(current()));
      },
    });

  counter('tollgate_agent_intervals_total', 'Probe drain intervals closed', (s) => s.intervals);
  counter(
    'tollgate_agent_batches_sent_total',
    'Batches sent to the collector, replays included',
    (s) => s.shipper.sent,
  );
  counter(
    'tollgate_agent_batches_stored_total',
    'Batches the collector acknowledged as stored',
    (s) => s.shipper.stored,
  );
  counter(
    'tollgate_agent_batches_duplicate_total',
    'Replayed batches the collector already had',
    (s) => s.shipper.duplicates,
  );
  counter(
    'tollgate_agent_batches_rejected_total',
    'Batches the collector refused as invalid (lost)',
    (s) => s.shipper.rejected,
  );
  counter(
    'tollgate_agent_spool_dropped_batches_total',
    'Oldest batches dropped because the spool was full (lost)',
    (s) => s.shipper.spoolDropped,
  );
  counter(
    'tollgate_agent_collector_reconnects_total',
    'Connections to the collector after the first',
    (s) => s.shipper.reconnects,
  );
  counter(
    'tollgate_agent_kernel_map_full_total',
    'Kernel records lost because a BPF map was full',
    (s) => s.lost.kernelMapFull,
  );
  new Counter({
    name: 'tollgate_agent_kernel_lost_total',
    help: "What the kernel side could not account, by cause (the kernel's loss counters)",
    labelNames: ['cause'],
    registers: [registry],
    collect() {
      this.reset();
      const causes = current().lost.kernelCauses;
      for (const m of LOSS_METRICS) this.inc({ cause: m.name }, causes[m.ts]);
    },
  });
  new Gauge({
    name: 'tollgate_agent_kernel_map_entries',
    help: "The kernel maps' sizes in entries, as the runner made them (tollgate agent --map-sizes); 0 on the bpftrace fallback",
    labelNames: ['map'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [map, entries] of Object.entries(current().maps)) this.set({ map }, entries);
    },
  });
  counter(
    'tollgate_agent_kernel_buffer_full_total',
    "Process start and exit events lost because the kernel's ring buffer was full",
    (s) => s.lost.kernelBufferFull,
  );
  counter(
    'tollgate_agent_unresolved_processes_total',
    'Processes whose records were dropped: gone before the agent read who they were',
    (s) => s.lost.unresolvedProcesses,
  );
  counter(
    'tollgate_agent_processes_named_from_kernel_total',
    'Exited processes named from what the kernel saw (comm, cgroup, network namespace): /proc had gone before it was read',
    (s) => s.processEvents.fromKernel,
  );
  counter(
    'tollgate_agent_hops_without_direction_total',
    'Proxy hops not yet attributable to a direction',
    (s) => s.lost.hopsWithoutDirection,
  );
  counter(
    'tollgate_agent_mesh_management_hops_total',
    "Hops through a sidecar's own health, metrics and admin listeners (15020, 15021, 15090...), left out of its added latency",
    (s) => s.meshManagementHops,
  );
  counter(
    'tollgate_agent_directions_evicted_total',
    "Sidecar listeners' learned directions forgotten at the learner's bound before their ttl",
    (s) => s.lost.directionsEvicted,
  );
  counter(
    'tollgate_agent_edges_without_port_total',
    'Kernel edge records without a service port, left out of batches',
    (s) => s.lost.edgesWithoutPort,
  );
  counter(
    'tollgate_agent_stale_socket_states_total',
    'Socket states the kernel found left at a reused address by a freed socket whose close it missed, dropped',
    (s) => s.lost.staleSocketStates,
  );
  counter(
    'tollgate_agent_handoffs_not_noted_total',
    "Request and response hops kept to the proxy's write, not run on to a waiting reader, for want of room in the kernel's hand-off map (--handoffs)",
    (s) => s.lost.handoffsNotNoted,
  );
  counter(
    'tollgate_agent_tuples_without_port_total',
    'Sampled connections without one of their ports, left out of batches',
    (s) => s.lost.tuplesWithoutPort,
  );
  counter(
    'tollgate_agent_strays_dropped_total',
    "Histogram buckets and connection tuples whose edge (a hop bucket: its listener's counts) had no record in two intervals",
    (s) => s.lost.straysDropped,
  );
  gauge(
    'tollgate_agent_spool_batches',
    'Batches waiting for an acknowledgement',
    (s) => s.shipper.spoolBatches,
  );
  gauge(
    'tollgate_agent_spool_bytes',
    'Bytes of batches waiting for an acknowledgement',
    (s) => s.shipper.spoolBytes,
  );
  gauge('tollgate_agent_collector_connected', '1 while the stream to the collector is up', (s) =>
    Number(s.shipper.connected),
  );
  gauge('tollgate_agent_probes_running', '1 while the kernel probes deliver records', (s) =>
    Number(s.probesRunning),
  );
  gauge(
    'tollgate_agent_proxies',
    'Sidecar proxy processes whose hops are paired',
    (s) => s.proxies.length,
  );
  counter(
    'tollgate_agent_runner_cpu_seconds_total',
    'CPU time of the probe runner process',
    (s) => s.self.runnerCpuNs / 1e9,
  );
  gauge(
    'tollgate_agent_runner_resident_memory_bytes',
    'Resident memory of the probe runner process',
    (s) => s.self.runnerRssBytes,
  );

  const perProgram = (
    name: string,
    help: string,
    read: (p: AgentStatus['programs'][number]) => number,
  ) =>
    new Counter({
      name,
      help,
      labelNames: ['program', 'attach_mode'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const p of current().programs)
          if (p.attachMode !== 'off')
            this.inc({ program: p.name, attach_mode: p.attachMode }, read(p));
      },
    });
  perProgram(
    'tollgate_agent_bpf_program_runs_total',
    'Runs of each BPF program, as the kernel counts them (bpf_stats)',
    (p) => p.runCount,
  );
  perProgram(
    'tollgate_agent_bpf_program_run_seconds_total',
    'Time spent in each BPF program (0 when the kernel does not count it: no CAP_SYS_ADMIN)',
    (p) => p.runTimeNs / 1e9,
  );
  new Gauge({
    name: 'tollgate_agent_kubernetes_objects',
    help: 'Objects held by each Kubernetes watch',
    labelNames: ['resource'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [resource, w] of Object.entries(current().kubernetes ?? {}))
        this.set({ resource }, w.objects);
    },
  });
  const perWatch = (
    name: string,
    help: string,
    read: (w: NonNullable<AgentStatus['kubernetes']>[string]) => number,
  ) =>
    new Counter({
      name,
      help,
      labelNames: ['resource'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [resource, w] of Object.entries(current().kubernetes ?? {}))
          this.inc({ resource }, read(w));
      },
    });
  perWatch(
    'tollgate_agent_kubernetes_watch_restarts_total',
    'Kubernetes watches that ended and were resumed or relisted',
    (w) => w.watchRestarts,
  );
  perWatch(
    'tollgate_agent_kubernetes_watches_paced_total',
    'Kubernetes watch opens delayed because the watch before ended at once with no event',
    (w) => w.watchesPaced,
  );
  return { registry, stop };
}
