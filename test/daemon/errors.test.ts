// What a daemon sends back when a task fails: thrown errors keep their name, message, stack and
// own properties; an unserializable result names the problem; ErrorValue codes and odd throws.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MiraiError, ErrorValue, isErrorValue, isMiraiError, toErrorPayload } from '../../dist/wire/errors';
import { K, sharedDaemon } from './host';

const shared = sharedDaemon(test);
let id = 0;

test('thrown errors keep name, message, stack and own properties', async () => {
  const r = await shared.host.run(++id, () => {
    const e: any = new RangeError('too big');
    e.code = 'E_BIG';
    e.fn = () => 1;
    throw e;
  });
  assert.equal([r.kind, r.flags], [K.RESULT, 1]);
  const e = MiraiError.fromPayload(r.value);
  assert.ok(isMiraiError(e) && e instanceof Error);
  assert.equal(
    [e.name, e.message, (e as any).code, typeof (e as any).fn],
    ['RangeError', 'too big', 'E_BIG', 'string'],
  );
  assert.match(e.stack!, /^RangeError: too big\n\s+at /);
  assert.not.match(e.stack!, /evaluate\.js|daemon\.js/);
  const r2 = await shared.host.run(++id, 'throw 42');
  assert.equal([r2.flags, r2.value.name, r2.value.message], [1, 'Error', '42']);
  const r3 = await shared.host.run(++id, () => Promise.reject(new TypeError('async bad')));
  assert.equal([r3.flags, r3.value.name, r3.value.message], [1, 'TypeError', 'async bad']);
});

test('an unserializable result gives an error naming the problem', async () => {
  const r = await shared.host.run(++id, () => () => 1);
  assert.equal([r.kind, r.flags], [K.RESULT, 1]);
  assert.match(r.value.message, /result could not be serialized/);
});

test('errors: ErrorValue codes and toErrorPayload of odd throws', () => {
  assert.equal(
    [5, 7, 19, 20].map((c) => new ErrorValue(c as 5).message),
    ['timed out', 'closed', 'connection reset', 'canceled'],
  );
  assert.ok(
    isErrorValue(new ErrorValue(20)) && !isErrorValue(new Error('x')) && new ErrorValue(19).name === 'ErrorValue',
  );
  assert.equal(toErrorPayload('boom'), { name: 'Error', message: 'boom', props: {} });
  const err = Object.defineProperty(Object.assign(new Error('x', { cause: 'why' }), { sym: Symbol('s') }), 'bad', {
    enumerable: true,
    get() {
      throw new Error('no');
    },
  });
  const p = toErrorPayload(err);
  assert.equal(p.props, { sym: 'Symbol(s)', cause: 'why' });
  const e = MiraiError.fromPayload({ name: 'E', message: 'm', props: { __proto__: 1, stack: 'x' } as any });
  assert.is(Object.getPrototypeOf(e), MiraiError.prototype);
});

test.run();
