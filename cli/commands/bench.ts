import { benchIngest, renderIngestBench } from '../../bench/ingest.js';
import { benchProbes, renderProbesBench } from '../../bench/probes.js';
import { benchUi, renderUiBench } from '../../bench/ui.js';
import { type Command, NotImplementedError, requireOneOf, UsageError } from '../command.js';

const benchmarks = ['overhead', 'accuracy', 'ingest', 'ui', 'probes', 'chaos', 'all'] as const;

export const bench: Command = {
  name: 'bench',
  summary: "measure Tollgate's own cost and accuracy; one JSON object per benchmark",
  usage: `Usage: tollgate bench NAME [--json]

Benchmarks:
  overhead    throughput and latency with vs without Tollgate, A/B interleaved
  accuracy    reported vs injected delays, byte counts, retransmits
  ingest      collector records per second per core, time to acknowledgement
  ui          frames per second panning a 1,000-process graph in Chromium
  probes      kernel events per second and kernel time per event
  chaos       collector and agent killed under load: nothing lost, nothing doubled
  all         all of the above; writes bench/results/latest.json

Options:
  --json        one JSON object on stdout (default: a table)
  -h, --help    this text`,
  options: {
    json: { type: 'boolean' },
  },
  async run(args) {
    if (args.positionals.length !== 1)
      throw new UsageError('exactly one benchmark NAME is required');
    const name = requireOneOf(args.positionals[0]!, benchmarks, 'NAME');
    if (name === 'ingest') {
      const result = await benchIngest();
      console.log(args.values.json ? JSON.stringify(result) : renderIngestBench(result));
      return 0;
    }
    if (name === 'ui') {
      const result = await benchUi();
      console.log(args.values.json ? JSON.stringify(result) : renderUiBench(result));
      return 0;
    }
    if (name !== 'probes') throw new NotImplementedError(9, name);
    const result = await benchProbes();
    console.log(args.values.json ? JSON.stringify(result) : renderProbesBench(result));
    return 0;
  },
};
