import { fileURLToPath } from 'node:url';
import { imageOverride, kustomize, toYaml } from '../../daemonset/kustomize.js';
import { type Command, requireOneOf, stringOption } from '../command.js';

const overlays = ['least-privilege', 'privileged'] as const;

/** The image the base names (its `images:` entry); --image replaces it. */
export const BASE_IMAGE = 'ghcr.io/tollgate-dev/tollgate';

/** The kustomize tree, from source (cli/commands/) and from the build (dist/cli/commands/). */
export const MANIFESTS_DIR = fileURLToPath(
  new URL(
    import.meta.url.includes('/dist/')
      ? '../../../daemonset/manifests'
      : '../../daemonset/manifests',
    import.meta.url,
  ),
);

export const manifests: Command = {
  name: 'manifests',
  usage: `Usage: tollgate manifests [options]

Prints the kustomize-rendered manifests, ready for \`kubectl apply -f -\`. They expect a
Secret with the bearer token shared by agents and collector:

  kubectl create namespace tollgate
  kubectl -n tollgate create secret generic tollgate-token --from-literal=token="$(openssl rand -hex 32)"

Options:
  --overlay NAME    least-privilege (default) or privileged
  --image REF       the container image to deploy (default ${BASE_IMAGE}:<version>)
  -h, --help        this text`,
  options: {
    overlay: { type: 'string' },
    image: { type: 'string' },
  },
  async run(args) {
    const overlay = requireOneOf(
      stringOption(args, 'overlay') ?? 'least-privilege',
      overlays,
      '--overlay',
    );
    const image = stringOption(args, 'image');
    const rendered = kustomize(
      `${MANIFESTS_DIR}/overlays/${overlay}`,
      image ? [imageOverride(BASE_IMAGE, image)] : [],
    );
    process.stdout.write(toYaml(rendered));
    return 0;
  },
};
