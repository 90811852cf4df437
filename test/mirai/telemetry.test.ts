// OpenTelemetry (issue 11 item 7), through the optional peer dependency @opentelemetry/api and
// the SDK's in-memory exporter (both from npm): spans for daemons(), each mirai (its outcome, ok
// or error) and everywhere(), and the task's context: a task sees its span's traceparent and runs
// with it as its active span context. Without a registered SDK nothing is recorded or sent.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { context, trace, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { daemons, everywhere, mirai, type TaskContext } from '../../dist';
import { errorOf, withTimeout } from '../helpers';
import { testHooks } from '../fixtures/mirai/common';

const W = 15000;

test('without a registered SDK: no span, no traceparent sent', async () => {
  await daemons(1);
  // Not even a non-recording span is made: the tracer is never asked.
  const proto = Object.getPrototypeOf(trace.getTracerProvider().getTracer('probe')) as {
    startSpan: (...a: unknown[]) => unknown;
  };
  const startSpan = proto.startSpan;
  let asked = 0;
  proto.startSpan = function (this: unknown, ...a: unknown[]) {
    asked++;
    return startSpan.apply(this, a);
  };
  try {
    const seen = await withTimeout(
      mirai((_: object, ctx: TaskContext) => ctx.traceparent ?? 'none', {}),
      W,
      'task',
    );
    assert.is(seen, 'none');
    assert.is(asked, 0, 'tracer.startSpan calls');
  } finally {
    proto.startSpan = startSpan;
  }
  await daemons(0);
});

test('with the SDK: spans for daemons(), each mirai and everywhere(); the task runs in its span context', async () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  try {
    await daemons(2, { dispatcher: true });
    // The daemons get a context manager too (what a user's OpenTelemetry set-up there would do).
    await withTimeout(
      everywhere(() => {
        const api = require('@opentelemetry/api');
        const { AsyncLocalStorageContextManager: M } = require('@opentelemetry/context-async-hooks');
        api.context.setGlobalContextManager(new M().enable());
      }),
      W,
      'daemon set-up',
    );
    const parent = trace.getTracer('test').startSpan('request');
    const seen = await context.with(trace.setSpan(context.active(), parent), () =>
      withTimeout(
        mirai((_: object, ctx: TaskContext) => {
          // What OpenTelemetry on the daemon sees as the active span context (the API is there).
          const api = require('@opentelemetry/api');
          return {
            pid: process.pid,
            traceparent: ctx.traceparent,
            active: api.trace.getSpanContext(api.context.active())?.spanId ?? null,
          };
        }, {}),
        W,
        'task',
      ),
    );
    parent.end();
    const failed = await errorOf(
      mirai(() => {
        throw new TypeError('nope');
      }),
    );
    assert.is(failed.name, 'TypeError');
    await withTimeout(
      everywhere(() => 1),
      W,
      'everywhere',
    );
    await daemons(0);

    const spans = exporter.getFinishedSpans();
    const byName = (n: string) => spans.filter((s) => s.name === n);
    const [setUp] = byName('mirai.daemons');
    assert.ok(setUp, `a mirai.daemons span among ${spans.map((s) => s.name)}`);
    assert.is(setUp!.attributes['mirai.daemons.n'], 2);
    assert.is(setUp!.attributes['mirai.mode'], 'dispatcher thread');
    const tasks = byName('mirai.task');
    assert.ok(tasks.length >= 2, `${tasks.length} mirai.task spans`);
    const ok = tasks.find((s) => s.status.code === SpanStatusCode.OK)!;
    const bad = tasks.find((s) => s.status.code === SpanStatusCode.ERROR)!;
    assert.ok(ok && bad, 'one ok, one failed');
    assert.is(bad.attributes['error.type'], 'TypeError');
    assert.is(bad.status.message, 'nope');
    // The task's span is a child of the caller's, and the task saw that span's context.
    assert.is(ok.spanContext().traceId, parent.spanContext().traceId);
    assert.is(ok.parentSpanContext?.spanId, parent.spanContext().spanId);
    assert.is(seen.traceparent, `00-${ok.spanContext().traceId}-${ok.spanContext().spanId}-01`);
    // On the daemon the task ran with the host's span as its active span context.
    assert.is(seen.active, ok.spanContext().spanId);
    // The span says which daemon ran it (the daemon's STARTED, through the dispatcher).
    assert.is(ok.attributes['mirai.daemon.pid'], seen.pid);
    assert.type(ok.attributes['mirai.daemon'], 'number');
    assert.ok(
      ok.events.some((e) => e.name === 'mirai.started' && e.attributes?.['mirai.daemon.pid'] === seen.pid),
      'a mirai.started event',
    );
    const [ew] = byName('mirai.everywhere');
    assert.ok(
      ew && ew.status.code === SpanStatusCode.OK && ew.attributes['mirai.daemons'] === 2,
      'an everywhere span over 2 daemons',
    );
  } finally {
    trace.disable();
    context.disable();
    await provider.shutdown();
  }
});

test('with the SDK, round-robin: the task span says which daemon ran it', async () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  try {
    await daemons(2, { dispatcher: false });
    const pid = (await withTimeout(mirai(() => process.pid) as Promise<number>, W, 'task')) as number;
    await daemons(0);
    const span = exporter.getFinishedSpans().find((s) => s.name === 'mirai.task');
    assert.ok(span, 'a mirai.task span');
    assert.is(span!.attributes['mirai.daemon.pid'], pid);
    assert.ok(span!.events.some((e) => e.name === 'mirai.started'));
  } finally {
    trace.disable();
    await provider.shutdown();
  }
});

testHooks(test);
test.run();
