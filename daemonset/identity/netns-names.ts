// Names of network namespaces, as `ip netns` gives them (bind mounts in /run/netns): a
// pod's stand-in when there is no Kubernetes, so lab pods read as pods.
import { readdirSync, statSync } from 'node:fs';

export function readNetnsNames(dir = '/run/netns'): Map<number, string> {
  const names = new Map<number, string>();
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return names;
  }
  for (const name of entries) {
    try {
      names.set(statSync(`${dir}/${name}`).ino, name);
    } catch {}
  }
  return names;
}
