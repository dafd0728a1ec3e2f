// Importing a session whose mode signs and mesh fields are hostile: strings within the
// limits (markup, terminal escapes, bidi overrides, quotes, the longest and the most
// allowed) are kept exactly, in both encodings and through the API; anything past the
// limits or meaningless (unknown modes or methods, a share past 1, a method twice) is
// refused with its path, and nothing is stored. A frozen session always fits the limits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileSafeSigns } from '../../collector/sessions/results.js';
import {
  decodeSessionFile,
  encodeSessionFile,
  FILE_LIMITS,
} from '../../collector/sessions/session-file.js';
import { modeSessions } from './mode-sessions.js';
import { call } from './recorded-session.js';

interface FileJson {
  id: string;
  tollgate: {
    pods: {
      mesh_mode: string;
      mode_signs: unknown;
      proxy_share: number;
      proxy_share_method: string;
      proxy_shares: { method: string; share: number }[];
      waypoints: unknown[];
    }[];
  };
}

const HOSTILE = [
  '<img src=x onerror=alert(1)>',
  'label istio.io/use-waypoint=\u001b[2J\u001b]0;pwned\u0007',
  '\u202eevil\u202c "quoted" \\ back\nslash',
  '\u0000nul and 😀 astral',
  's'.repeat(FILE_LIMITS.stringLength),
];

test('hostile mode signs within the limits import unchanged; past them, a clear refusal and nothing stored', async (t) => {
  const { collector, ambient } = await modeSessions(t);
  const text = await (
    await call(collector, 'GET', `/api/sessions/${ambient}/export?format=json`)
  ).text();
  const edit = (change: (f: FileJson) => void) => {
    const f: FileJson = JSON.parse(text);
    f.id = 'hostile';
    change(f);
    return new TextEncoder().encode(JSON.stringify(f));
  };
  const most = Array.from(
    { length: FILE_LIMITS.modeSigns },
    (_, i) => HOSTILE[i % HOSTILE.length]!,
  );
  const hostile = edit((f) => {
    f.tollgate.pods[0]!.mode_signs = most;
  });

  // Kept exactly through the pure reader, both encodings.
  const decoded = decodeSessionFile(hostile, 'json');
  assert.deepEqual(decoded.tollgate!.pods[0]!.modeSigns, most);
  const viaPb = decodeSessionFile(encodeSessionFile(decoded, 'pb'), 'pb');
  assert.deepEqual(viaPb, decoded);

  // And through the API: imported, exported again with every sign as it came.
  const target = await modeSessions(t);
  const imported = await call(target.collector, 'POST', '/api/sessions/import?format=json', {
    bytes: hostile,
  });
  assert.equal(imported.status, 201, await imported.clone().text());
  const again: FileJson = JSON.parse(
    await (await call(target.collector, 'GET', '/api/sessions/hostile/export?format=json')).text(),
  );
  assert.deepEqual(again.tollgate.pods[0]!.mode_signs, most);

  const cases: [string, Uint8Array, RegExp][] = [
    [
      'one sign too many',
      edit((f) => {
        f.tollgate.pods[0]!.mode_signs = [...most, 'one more'];
      }),
      /tollgate\.pods\[0\]\.mode_signs has 65 items, more than 64/,
    ],
    [
      'a sign too long',
      edit((f) => {
        f.tollgate.pods[0]!.mode_signs = ['x'.repeat(FILE_LIMITS.stringLength + 1)];
      }),
      /tollgate\.pods\[0\]\.mode_signs\[0\] is longer than 4096 characters/,
    ],
    [
      'a sign not a string',
      edit((f) => {
        f.tollgate.pods[1]!.mode_signs = ['ok', { html: '<b>' }];
      }),
      /tollgate\.pods\[1\]\.mode_signs\[1\] must be a string, got object/,
    ],
    [
      'signs not a list',
      edit((f) => {
        f.tollgate.pods[0]!.mode_signs = '<script>';
      }),
      /tollgate\.pods\[0\]\.mode_signs must be an array, got string "<script>"/,
    ],
    [
      'an unknown mode',
      edit((f) => {
        f.tollgate.pods[0]!.mesh_mode = 'ambient\u001b[2J';
      }),
      /tollgate\.pods\[0\]\.mesh_mode is "ambient\\u001b\[2J", not one of '', sidecar, ambient/,
    ],
    [
      'an unknown share method',
      edit((f) => {
        f.tollgate.pods[0]!.proxy_shares = [{ method: 'vibes', share: 0.5 }];
      }),
      /tollgate\.pods\[0\]\.proxy_shares\[0\]\.method is "vibes", not one of on-cpu, bytes/,
    ],
    [
      'a method twice',
      edit((f) => {
        f.tollgate.pods[0]!.proxy_shares = [
          { method: 'bytes', share: 0.5 },
          { method: 'bytes', share: 0.7 },
        ];
      }),
      /tollgate\.pods\[0\]\.proxy_shares\[1\]\.method "bytes" appears twice/,
    ],
    [
      'a share past 1',
      edit((f) => {
        f.tollgate.pods[0]!.proxy_share = 1.5;
      }),
      /tollgate\.pods\[0\]\.proxy_share must be within 0\.\.1/,
    ],
    [
      'too many waypoints',
      edit((f) => {
        f.tollgate.pods[0]!.waypoints = Array.from(
          { length: FILE_LIMITS.waypoints + 1 },
          () => ({}),
        );
      }),
      /tollgate\.pods\[0\]\.waypoints has 17 items, more than 16/,
    ],
    [
      'a waypoint with a bad method',
      edit((f) => {
        f.tollgate.pods[0]!.waypoints = [{ proxy: 'envoy', share: 0.2, share_method: 'guess' }];
      }),
      /tollgate\.pods\[0\]\.waypoints\[0\]\.share_method is "guess", not one of '', on-cpu, bytes/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    const response = await call(target.collector, 'POST', '/api/sessions/import?format=json', {
      bytes,
    });
    const body = (await response.json()) as { message: string };
    assert.equal(response.status, 400, `${what}: ${body.message}`);
    assert.match(body.message, message, what);
  }
  assert.deepEqual(
    (await target.collector.sessions.list()).map((s) => s.id).sort(),
    ['hostile', target.sidecars, target.ambient].sort(),
    'nothing more stored',
  );
});

test('a frozen session keeps its signs within what an import takes, and says what it left out', () => {
  const many = Array.from({ length: FILE_LIMITS.modeSigns + 6 }, (_, i) => `sign ${i}`);
  const kept = fileSafeSigns(many);
  assert.equal(kept.length, FILE_LIMITS.modeSigns);
  assert.deepEqual(kept.slice(0, -1), many.slice(0, FILE_LIMITS.modeSigns - 1));
  assert.equal(kept.at(-1), '…and 7 more signs');
  // Cut before the last whole character: never half of a surrogate pair.
  const long = `${'a'.repeat(FILE_LIMITS.stringLength - 2)}😀tail`;
  const [cut] = fileSafeSigns([long]);
  assert.equal(cut, `${'a'.repeat(FILE_LIMITS.stringLength - 2)}…`);
  assert.ok(cut!.length <= FILE_LIMITS.stringLength);
  assert.deepEqual(fileSafeSigns(['short', 'ok']), ['short', 'ok'], 'within the limits: unchanged');
});
