// lib/wire/codec.ts: payloads are the structured clone, with binary views of OOB_MIN bytes or more
// carried out of band (copied once, 8-byte aligned, decoded as views over the message). Every
// view type, small and large, aligned or not; shared references; snapshots; plain payloads
// byte-identical to v8.serialize; and garbage (fuzzed) payloads that throw instead of crashing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import * as v8 from 'node:v8';
import { deserializePayload, OOB_MIN, serializePayload } from '../dist/wire/codec';

const TYPES = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as const;

const bytesOf = (v: ArrayBufferView): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
const filled = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
};

test('every view type, small and large, round-trips with its type, length and bytes', () => {
  for (const size of [16, OOB_MIN, OOB_MIN * 4 + 8]) {
    const value: Record<string, ArrayBufferView> = {};
    for (const T of TYPES) value[T.name] = new T(filled(size).buffer.slice(0, size) as ArrayBuffer);
    value.Buffer = filled(size);
    value.DataView = new DataView(filled(size).buffer.slice(0, size));
    const p = serializePayload(value);
    assert.is(p[0] === 0xff, size < OOB_MIN, `size ${size}: plain v8 output only without large views`);
    const out = deserializePayload(Buffer.from(p)) as Record<string, ArrayBufferView>;
    for (const [k, v] of Object.entries(value)) {
      assert.is(out[k]!.constructor, v.constructor, `${k} (${size} bytes) keeps its type`);
      assert.is(out[k]!.byteLength, v.byteLength);
      assert.ok(bytesOf(out[k]!).equals(bytesOf(v)), `${k} (${size} bytes) keeps its bytes`);
    }
  }
});

test('large views arrive as zero-copy views over the payload, aligned; unaligned sources work', () => {
  const pool = new ArrayBuffer(OOB_MIN * 2 + 16);
  const odd = new Uint8Array(pool, 3, OOB_MIN + 5); // odd offset and length in the sender
  odd.set(filled(odd.length));
  const f64 = new Float64Array(pool, 8, OOB_MIN / 8);
  const payload = Buffer.from(serializePayload({ odd, f64, again: f64 }));
  const out = deserializePayload(payload) as { odd: Uint8Array; f64: Float64Array; again: Float64Array };
  assert.ok(bytesOf(out.odd).equals(bytesOf(odd)));
  assert.ok(bytesOf(out.f64).equals(bytesOf(f64)));
  assert.is(out.f64.buffer, payload.buffer, 'no copy on the way in');
  assert.is(out.f64.byteOffset % 8, 0);
  assert.is(out.again, out.f64, 'one object referenced twice stays one object');
});

test('plain payloads are exactly v8.serialize; a payload is a snapshot of the value', () => {
  const v = { a: 1, s: 'x', m: new Map([[1, new Float32Array([1, 2])]]), d: new Date(0), b: Buffer.from('hi') };
  assert.ok(serializePayload(v).equals(v8.serialize(v)));
  const big = new Float64Array(OOB_MIN / 8).fill(1);
  const p = serializePayload({ big });
  big.fill(2);
  assert.is((deserializePayload(p) as { big: Float64Array }).big[0], 1);
});

test('values that cannot be cloned throw as with v8.serialize', () => {
  assert.throws(() => serializePayload({ f: () => 1 }), /could not be cloned/);
  assert.throws(() => serializePayload({ s: Symbol('x') }), /could not be cloned|Symbol/);
});

test('garbage, truncated and mutated payloads throw (or decode to something), never crash', () => {
  const good = serializePayload({
    x: new Float64Array(OOB_MIN / 8).fill(3),
    y: [1, 'two'],
    z: Buffer.alloc(OOB_MIN + 1, 9),
  });
  const cases: Buffer[] = [
    Buffer.alloc(0),
    Buffer.from([1]),
    Buffer.from([1, 0, 0, 0, 255, 255, 255, 255]),
    good.subarray(0, 20),
    good.subarray(0, good.length - 8),
  ];
  for (let i = 0; i < 400; i++) {
    const b = Buffer.from(good.subarray(0, 64 + Math.floor(Math.random() * (good.length - 64))));
    for (let k = 0; k < 4; k++) b[Math.floor(Math.random() * Math.min(b.length, 96))] = Math.floor(Math.random() * 256);
    cases.push(b);
    const r = randomBytes(1 + Math.floor(Math.random() * 64));
    r[0] = 1;
    cases.push(r);
  }
  let threw = 0;
  for (const c of cases) {
    try {
      deserializePayload(c);
    } catch {
      threw++;
    }
  }
  assert.ok(threw > cases.length / 2, `most garbage is refused (${threw} of ${cases.length})`);
});

test.run();
