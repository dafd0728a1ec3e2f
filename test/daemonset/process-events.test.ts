// The kernel's process events and the resolver: a process /proc never showed in time is
// named from what the kernel saw as it ended (comm, cgroup id, network namespace), its
// container and pod found through its cgroup's path; its identity outlives it for a
// while, for the records that come after its exit; a start is read from /proc at once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { IdentityResolver } from '../../daemonset/identity/resolver.js';
import type { ProcessRecord } from '../../probes/records.js';

const UID = '3c9e1f20-0000-4000-8000-0000000c0de5';
const CONTAINER = 'c'.repeat(64);
/** A pid no process has: above the kernel's limit. */
const GONE = 4_194_305;

test('an exited process /proc never showed: named from the kernel, its pod through its cgroup path', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tg-cgroups-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  // A kubelet-shaped path in a directory of our own: only its inode (the id) matters.
  const group = join(
    root,
    `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${CONTAINER}.scope`,
  );
  mkdirSync(group, { recursive: true });
  const resolver = new IdentityResolver({
    node: 'n1',
    cgroupRoot: root,
    tombstoneMs: 5_000,
    pods: {
      byUid: (uid) =>
        uid === UID
          ? {
              pod: {
                namespace: 'shop',
                name: 'checkout-7d9',
                uid,
                source: 'POD_SOURCE_KUBERNETES',
              },
              containerName: (id) => (id === CONTAINER ? 'probe' : ''),
            }
          : undefined,
    },
  });
  const exit: ProcessRecord = {
    type: 'process',
    event: 'exit',
    tgid: GONE,
    startTimeTicks: 123_456,
    cgroupId: statSync(group).ino,
    netnsInode: 4026531840,
    parentTgid: 0,
    comm: 'grpc_health_pro',
  };
  assert.equal(resolver.resolve(GONE, 1_000), undefined, 'nothing known before');
  resolver.observe(exit, 1_000);
  const identity = resolver.resolve(GONE, 2_000);
  assert.deepEqual(
    identity && {
      ref: identity.ref,
      comm: identity.comm,
      exe: identity.exe,
      cmdline: identity.cmdline,
      containerId: identity.containerId,
      containerName: identity.containerName,
      cgroupId: identity.cgroupId,
      netnsInode: identity.netnsInode,
      pod: identity.pod?.name,
      role: identity.role,
    },
    {
      ref: { pid: GONE, startTimeTicks: 123_456 },
      comm: 'grpc_health_pro',
      exe: '',
      cmdline: [],
      containerId: CONTAINER,
      containerName: 'probe',
      cgroupId: statSync(group).ino,
      netnsInode: 4026531840,
      pod: 'checkout-7d9',
      role: 'ROLE_APP',
    },
  );
  assert.equal(resolver.stats(2_000).fromKernel, 1);
  assert.equal(resolver.resolve(GONE, 6_001), undefined, 'forgotten after the tombstone time');
  assert.equal(resolver.stats(6_001).tombstones, 0);
});

test('a start is read from /proc at once: the command line survives the process', async (t) => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 200)', 'marker-arg']);
  t.after(() => child.kill());
  const resolver = new IdentityResolver({ node: 'n1' });
  // /proc/<pid>/stat's starttime, the 22nd field (the 20th after the comm's ')').
  const start = Number(
    readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19],
  );
  const event = (kind: ProcessRecord['event']): ProcessRecord => ({
    type: 'process',
    event: kind,
    tgid: child.pid!,
    startTimeTicks: start,
    cgroupId: 0,
    netnsInode: 0,
    parentTgid: 0,
    comm: 'node',
  });
  resolver.observe(event('exec'));
  await new Promise((r) => child.once('exit', r));
  resolver.observe(event('exit'));
  const identity = resolver.resolve(child.pid!);
  assert.deepEqual(identity?.cmdline?.slice(-1), ['marker-arg'], 'read while it lived');
  assert.deepEqual(resolver.stats(), {
    readAtStart: 1,
    missedAtStart: 0,
    fromKernel: 0,
    tombstones: 1,
  });
});

test("a start read as the process exits (no namespace links left) takes the kernel's namespace", (t) => {
  // A fake /proc entry as a zombie shows it: stat and comm still there, ns/ gone.
  const procRoot = mkdtempSync(join(tmpdir(), 'tg-proc-'));
  t.after(() => rmSync(procRoot, { recursive: true, force: true }));
  const pid = 4242;
  mkdirSync(join(procRoot, String(pid)));
  const stat = `${pid} (curl) Z 1 ${Array.from({ length: 17 }, () => '0').join(' ')} 777 0`;
  writeFileSync(join(procRoot, String(pid), 'stat'), stat);
  writeFileSync(join(procRoot, String(pid), 'comm'), 'curl\n');
  const resolver = new IdentityResolver({ node: 'n1', procRoot });
  resolver.observe({
    type: 'process',
    event: 'exec',
    tgid: pid,
    startTimeTicks: 777,
    cgroupId: 0,
    netnsInode: 4026532999,
    parentTgid: 0,
    comm: 'curl',
  });
  const identity = resolver.resolve(pid);
  assert.equal(identity?.netnsInode, 4026532999);
  assert.equal(identity?.pod?.name, 'netns-4026532999', 'not the host');
});
