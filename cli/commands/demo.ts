import { type Command, NotImplementedError, numberOption } from '../command.js';

export const demo: Command = {
  name: 'demo',
  summary: "build a lab mesh with sidecars, profile it, print each sidecar's cost",
  usage: `Usage: tollgate demo [options]

Builds a small mesh of network-namespace pods with haproxy sidecars (plus one
unmeshed pod for comparison), puts load on it, runs Tollgate, prints the web URL and
then a summary of what each sidecar costs. Tears everything down at exit. Needs root.

Options:
  --duration S      how long to run, in seconds (default 30)
  --json            print the summary as JSON, for scripts
  -h, --help        this text`,
  options: {
    duration: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(args) {
    numberOption(args, 'duration', 30);
    throw new NotImplementedError(3);
  },
};
