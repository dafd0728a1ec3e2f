import { type Command, NotImplementedError, requireOneOf, stringOption } from '../command.js';

const overlays = ['least-privilege', 'privileged'] as const;

export const manifests: Command = {
  name: 'manifests',
  summary: 'print the Kubernetes manifests (agent DaemonSet, collector, RBAC)',
  usage: `Usage: tollgate manifests [options]

Prints the kustomize-rendered manifests, ready for \`kubectl apply -f -\`.

Options:
  --overlay NAME    least-privilege (default) or privileged
  --image REF       the container image to deploy
  -h, --help        this text`,
  options: {
    overlay: { type: 'string' },
    image: { type: 'string' },
  },
  async run(args) {
    requireOneOf(stringOption(args, 'overlay') ?? 'least-privilege', overlays, '--overlay');
    throw new NotImplementedError(5);
  },
};
