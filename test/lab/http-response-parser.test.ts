// The load generator's response framing: every split of the bytes gives the same
// responses; chunked, sized and bodiless responses; malformed input refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpResponseParser } from '../../daemonset/load/http-response-parser.js';

const sized =
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world';
const chunked =
  'HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n';
const noBody = 'HTTP/1.1 204 No Content\r\nContent-Length: 99\r\n\r\n';
const closing = 'HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 2\r\n\r\nok';
const interim = 'HTTP/1.1 100 Continue\r\n\r\n';
const stream = sized + chunked + noBody + interim + closing;
const expected = [
  { status: 200, close: false },
  { status: 502, close: false },
  { status: 204, close: false },
  { status: 200, close: true },
];

test('the same responses whether the bytes come at once, one by one, or at any split', () => {
  const bytes = Buffer.from(stream, 'latin1');
  assert.deepEqual(new HttpResponseParser().push(bytes), expected);
  const parser = new HttpResponseParser();
  const oneByOne = [...bytes].flatMap((b) => parser.push(Buffer.from([b])));
  assert.deepEqual(oneByOne, expected);
  for (let cut = 1; cut < bytes.length; cut++) {
    const p = new HttpResponseParser();
    const got = [...p.push(bytes.subarray(0, cut)), ...p.push(bytes.subarray(cut))];
    assert.deepEqual(got, expected, `split at ${cut}`);
  }
});

test('HTTP/1.0 closes unless told otherwise', () => {
  const r = new HttpResponseParser().push(
    Buffer.from('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'),
  );
  assert.deepEqual(r, [{ status: 200, close: true }]);
});

test('malformed responses are refused with what is wrong', () => {
  const refuse = (text: string, message: RegExp) =>
    assert.throws(() => new HttpResponseParser().push(Buffer.from(text, 'latin1')), message);
  refuse('SMTP ready\r\n\r\n', /bad status line/);
  refuse('HTTP/1.1 200 OK\r\n\r\n', /no length/);
  refuse('HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n', /bad content-length/);
  refuse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /bad chunk size/);
  refuse(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(20_000)}`, /over 16384 bytes/);
});
