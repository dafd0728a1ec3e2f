import { fileURLToPath } from 'node:url';
import { imageOverride, kustomize, toYaml } from '../../daemonset/kustomize.js';
import { type Command, requireOneOf, stringOption } from '../command.js';
import { manifestSecrets, SECRET_NAMES } from '../manifest-secrets.js';

const overlays = ['least-privilege', 'privileged', 'postgres'] as const;

/** The Secret holding the postgres overlay's store URL: the operator's, not --secrets'. */
export const STORE_URL_SECRET = 'tollgate-store-url';

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

Prints the kustomize-rendered manifests, ready for \`kubectl apply -f -\`. They mount
Secrets that --secrets makes, fresh, once (it needs openssl):

  kubectl create namespace tollgate
  tollgate manifests --secrets | kubectl apply -f -
  tollgate manifests | kubectl apply -f -

The Secrets: ${SECRET_NAMES.ingest} (the agents'; ships batches), ${SECRET_NAMES.read}
(the viewer's and Prometheus'), ${SECRET_NAMES.admin} (sessions and their load
orders), and the collector's TLS certificate (${SECRET_NAMES.tls}) with the CA agents
verify it against (${SECRET_NAMES.ca}). Rerun --secrets and restart both to rotate them.
Prometheus scrapes with the read token, as daemonset/manifests/prometheus-scrape.yaml does.

least-privilege and privileged run one collector on a SQLite volume. --overlay postgres
runs 3 collectors that share your PostgreSQL database (no volume; one at a time is
taken down for a rollout or a drain). Its URL, password included, comes from the Secret
${STORE_URL_SECRET}, which --secrets does not make; FILE holds
postgres://USER:PASSWORD@HOST:PORT/DATABASE:

  kubectl -n tollgate create secret generic ${STORE_URL_SECRET} --from-file=url=FILE

Options:
  --overlay NAME    least-privilege (default), privileged, or postgres
  --image REF       the container image to deploy (default ${BASE_IMAGE}:<version>)
  --secrets         print the Secrets instead, with new tokens and a new certificate
  -h, --help        this text`,
  options: {
    overlay: { type: 'string' },
    image: { type: 'string' },
    secrets: { type: 'boolean' },
  },
  async run(args) {
    if (args.values.secrets === true) {
      process.stdout.write(toYaml(manifestSecrets('tollgate')));
      return 0;
    }
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
