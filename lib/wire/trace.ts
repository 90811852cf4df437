/**
 * OpenTelemetry, for both sides, through the optional peer dependency `@opentelemetry/api`: it is
 * looked for once, on first use; without it every function here does nothing and costs one
 * check. Spans are only made when an SDK is registered (the API alone records nothing), and only
 * then does a task carry its span's W3C `traceparent` over the wire (TaskPayload.trace).
 */
import type * as OtelApi from '@opentelemetry/api';

export type Span = OtelApi.Span;

let api: typeof OtelApi | null | undefined;
let tracer: OtelApi.Tracer | undefined;
let tracerProvider: OtelApi.TracerProvider | undefined;
let noopProvider: OtelApi.TracerProvider | undefined;

/** The API's no-op provider: what a proxy without a registered SDK delegates to. */
function noopOf(a: typeof OtelApi): OtelApi.TracerProvider {
  return new a.ProxyTracerProvider().getDelegate();
}

function otel(): typeof OtelApi | null {
  if (api === undefined) {
    try {
      api = require('@opentelemetry/api') as typeof OtelApi;
    } catch {
      api = null;
    }
  }
  return api;
}

const { version } = require('../../package.json') as { version: string };

/**
 * The tracer to use now, or undefined when nothing would record: no API, or the API alone (its
 * proxy provider has no SDK to delegate to). Callers on the task path ask this before building a
 * span's attributes, so that without an SDK a task allocates nothing for tracing.
 */
export function activeTracer(): OtelApi.Tracer | undefined {
  const a = otel();
  if (a === null) return undefined;
  const provider = a.trace.getTracerProvider();
  if (provider instanceof a.ProxyTracerProvider && provider.getDelegate() === (noopProvider ??= noopOf(a))) {
    return undefined;
  }
  // One tracer per global provider: a proxy follows a provider registered later, but not one
  // registered again after trace.disable() (which replaces the proxy itself).
  if (provider !== tracerProvider) {
    tracerProvider = provider;
    tracer = provider.getTracer('mirai', version);
  }
  return tracer;
}

/** A span of the active context's trace, or undefined when nothing would record it. */
export function startSpan(
  name: string,
  attributes: OtelApi.Attributes,
  t: OtelApi.Tracer | undefined = activeTracer(),
): Span | undefined {
  if (t === undefined) return undefined;
  const span = t.startSpan(name, { attributes, kind: otel()!.SpanKind.PRODUCER });
  if (span.isRecording()) return span;
  span.end();
  return undefined;
}

/** The W3C traceparent of span, for the task to carry. */
export function traceparent(span: Span): string {
  const c = span.spanContext();
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 1) === 1 ? '01' : '00'}`;
}

/** Ends span with its outcome: an error (status ERROR, its name and message), or OK. */
export function endSpan(span: Span, error?: unknown, attributes?: OtelApi.Attributes): void {
  const a = otel()!;
  if (attributes) span.setAttributes(attributes);
  if (error === undefined) {
    span.setStatus({ code: a.SpanStatusCode.OK });
  } else {
    const e = error as { name?: unknown; message?: unknown; code?: unknown };
    span.setAttribute('error.type', typeof e?.code === 'number' ? `ErrorValue ${e.code}` : String(e?.name ?? 'Error'));
    span.setStatus({ code: a.SpanStatusCode.ERROR, message: String(e?.message ?? error) });
  }
  span.end();
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Runs fn with `traceparent` (from the host) as the active span context, so that spans task code
 * starts are children of the host's span for the task (with an SDK and context manager
 * registered in this process). Without the API, or with a malformed value, just runs fn.
 */
export function withTraceparent<T>(traceparent: string | undefined, fn: () => T): T {
  if (traceparent === undefined) return fn();
  const a = otel();
  const m = TRACEPARENT.exec(traceparent);
  if (a === null || m === null) return fn();
  const parent = a.trace.setSpanContext(a.context.active(), {
    traceId: m[1]!,
    spanId: m[2]!,
    traceFlags: parseInt(m[3]!, 16),
    isRemote: true,
  });
  return a.context.with(parent, fn);
}
