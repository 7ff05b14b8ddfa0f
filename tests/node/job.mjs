// A jobpulse job in Node.js, written only from docs/conventions.md with the official
// OpenTelemetry JavaScript packages: log records over OTLP/HTTP protobuf, plus a root span and
// one child span per step so that the records carry trace ids.
//
//   node job.mjs [JOB_ID] [complete|fail]
//
// Environment: OTEL_EXPORTER_OTLP_ENDPOINT (default http://127.0.0.1:4318; the exporters append
// /v1/logs and /v1/traces), JOB_ID (default: a random UUID), JOB_MODE (complete | fail),
// OTEL_SERVICE_NAME (default jobpulse-node-job).
//
// Exit codes: 0 completed, 1 failed (mode "fail"), 2 bad usage, 3 telemetry was not delivered
// (an export error or an OTLP partial_success, i.e. the sidecar rejected records).

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

import { context, diag, DiagLogLevel, SpanStatusCode, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

// ---- arguments ----------------------------------------------------------------------------------

const MODES = new Set(['complete', 'fail']);
let jobId = process.env.JOB_ID || '';
let mode = process.env.JOB_MODE || 'complete';
for (const arg of process.argv.slice(2)) {
  if (MODES.has(arg)) mode = arg;
  else if (arg.startsWith('--mode=')) mode = arg.slice('--mode='.length);
  else if (!arg.startsWith('-')) jobId = arg;
}
if (!MODES.has(mode)) {
  console.error(`usage: node job.mjs [JOB_ID] [complete|fail]  (got mode ${JSON.stringify(mode)})`);
  process.exit(2);
}
jobId ||= randomUUID();
// The exporters read this when they are constructed; default to the sidecar's loopback address
// rather than the SDK's "localhost", which may resolve to ::1.
process.env.OTEL_EXPORTER_OTLP_ENDPOINT ||= 'http://127.0.0.1:4318';

// ---- telemetry problems make the job exit 3 -----------------------------------------------------

const telemetryProblems = [];
diag.setLogger(
  {
    error: (message, ...args) => {
      telemetryProblems.push([message, ...args].join(' '));
      console.error('otel error:', message, ...args);
    },
    warn: (message, ...args) => {
      // The OTLP exporters report a partial_success (rejected records) as a diag warning.
      if (String(message).includes('Partial Success')) telemetryProblems.push([message, ...args].join(' '));
      console.error('otel warning:', message, ...args);
    },
    info: () => {},
    debug: () => {},
    verbose: () => {},
  },
  DiagLogLevel.WARN,
);

// ---- providers ----------------------------------------------------------------------------------

const JOB_NAME = 'node-orders-sync';
const resource = resourceFromAttributes({
  'service.name': process.env.OTEL_SERVICE_NAME || 'jobpulse-node-job',
  'host.name': hostname(),
  'process.pid': process.pid,
});
const loggerProvider = new LoggerProvider({
  resource,
  // A short delay keeps the live feed live; the exporter retries 429/502/503/504 by itself.
  processors: [new BatchLogRecordProcessor({ exporter: new OTLPLogExporter(), scheduledDelayMillis: 100 })],
});
const tracerProvider = new BasicTracerProvider({
  resource,
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 100 })],
});
const logger = loggerProvider.getLogger('jobpulse-node-job', '1.0.0');
const tracer = tracerProvider.getTracer('jobpulse-node-job', '1.0.0');

// ---- emitting -----------------------------------------------------------------------------------

const timeOriginMs = performance.timeOrigin;

/** Now as [seconds, nanoseconds] since the epoch, finer than Date.now(). */
function now() {
  const seconds = Math.floor(timeOriginMs / 1000);
  const nanos = Math.round((timeOriginMs - seconds * 1000) * 1e6 + performance.now() * 1e6);
  return [seconds + Math.floor(nanos / 1e9), nanos % 1e9];
}

let seq = 0;
let currentContext = context.active(); // the span whose trace ids records carry

/** Emit one record of this job; every record gets the next seq (events and log lines share it). */
function emit({ eventName, severityNumber = SeverityNumber.INFO, severityText = 'INFO', body, attributes = {} }) {
  seq += 1;
  const record = {
    timestamp: now(),
    severityNumber,
    severityText,
    attributes: { 'jobpulse.job.id': jobId, 'jobpulse.seq': seq, ...attributes },
    context: currentContext,
  };
  if (eventName) record.eventName = eventName; // LogRecord.event_name, OTLP field 12
  if (body !== undefined) record.body = body;
  logger.emit(record);
}

function event(eventName, attributes, severity = ['INFO', SeverityNumber.INFO]) {
  emit({ eventName, attributes, severityText: severity[0], severityNumber: severity[1] });
}

function log(level, message, attributes = {}) {
  const severity = { info: SeverityNumber.INFO, warning: SeverityNumber.WARN, error: SeverityNumber.ERROR }[level];
  emit({
    body: message,
    severityNumber: severity,
    severityText: level.toUpperCase(),
    attributes: { 'log.logger': 'orders', ...attributes },
  });
}

// ---- job state ----------------------------------------------------------------------------------

const TOTAL = 500;
const STEPS = ['extract_orders', 'load_orders'];
const PROGRESS_EVERY_MS = 40;
const HEARTBEAT_S = 1;
let processed = 0;
let failed = 0;
let step = null;
let stepIndex = null;
let lastProgressMs = 0;

const counts = () => ({
  'jobpulse.job.processed': processed,
  'jobpulse.job.failed': failed,
  'jobpulse.job.total': TOTAL,
});
const currentStep = () =>
  step === null
    ? {}
    : { 'jobpulse.job.step': step, 'jobpulse.job.step.index': stepIndex, 'jobpulse.job.step.count': STEPS.length };

/** Absolute counts, coalesced: at most one progress event every PROGRESS_EVERY_MS. */
function progress() {
  const t = performance.now();
  if (t - lastProgressMs < PROGRESS_EVERY_MS) return;
  lastProgressMs = t;
  event('jobpulse.job.progress', { ...counts(), ...currentStep() });
}

let lastCpu = process.cpuUsage();
let lastCpuAt = performance.now();
let firstSample = true;

function resources() {
  const cpu = process.cpuUsage();
  const at = performance.now();
  // The first sample covers the whole process lifetime so far; later ones the time since the previous.
  const usedUs = firstSample ? cpu.user + cpu.system : cpu.user - lastCpu.user + (cpu.system - lastCpu.system);
  const wallUs = (firstSample ? process.uptime() * 1000 : at - lastCpuAt) * 1000;
  firstSample = false;
  lastCpu = cpu;
  lastCpuAt = at;
  event('jobpulse.job.resources', {
    'process.memory.usage': process.memoryUsage().rss,
    'process.cpu.utilization': wallUs > 0 ? usedUs / wallUs : 0,
  });
}

class UpstreamUnavailableError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UpstreamUnavailableError';
  }
}

async function runStep(index, work) {
  const span = tracer.startSpan(STEPS[index], { attributes: { 'jobpulse.job.id': jobId } }, currentContext);
  const parentContext = currentContext;
  currentContext = trace.setSpan(parentContext, span);
  step = STEPS[index];
  stepIndex = index;
  const started = performance.now();
  event('jobpulse.job.step', { ...counts(), ...currentStep(), 'jobpulse.job.step.state': 'started' });
  try {
    await work();
  } catch (error) {
    event('jobpulse.job.step', {
      ...counts(),
      ...currentStep(),
      'jobpulse.job.step.state': 'failed',
      'jobpulse.job.step.duration_s': (performance.now() - started) / 1000,
    });
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    throw error;
  } finally {
    span.end();
    currentContext = parentContext;
  }
  // No forced progress here: the step event carries the final counts itself.
  event('jobpulse.job.step', {
    ...counts(),
    ...currentStep(),
    'jobpulse.job.step.state': 'completed',
    'jobpulse.job.step.duration_s': (performance.now() - started) / 1000,
  });
  resources();
}

// ---- the job ------------------------------------------------------------------------------------

async function extract() {
  await sleep(150);
  log('info', `fetched ${TOTAL} orders from the source`, { 'orders.source': 'orders-api' });
}

async function load() {
  for (let record = 1; record <= TOTAL; record += 1) {
    if (mode === 'fail' && record === 300) {
      throw new UpstreamUnavailableError(`orders API returned HTTP 503 for order ${record}`);
    }
    processed += 1;
    if (record === 137 || record === 411) {
      failed += 1;
      log('warning', `order ${record} skipped: missing customer id`, { 'order.number': record });
    }
    if (record % 10 === 0) await sleep(8);
    progress();
  }
}

async function main() {
  const root = tracer.startSpan(JOB_NAME, { attributes: { 'jobpulse.job.id': jobId, 'jobpulse.job.name': JOB_NAME } });
  currentContext = trace.setSpan(context.active(), root);
  event('jobpulse.job.start', {
    'jobpulse.job.name': JOB_NAME,
    'jobpulse.job.type': 'node_etl',
    'jobpulse.job.owner': 'data-platform',
    'jobpulse.job.expected_duration_s': 2.5,
    'jobpulse.job.heartbeat_interval_s': HEARTBEAT_S,
    'jobpulse.job.step.names': STEPS,
    'jobpulse.job.step.count': STEPS.length,
    'jobpulse.job.processed': 0,
    'jobpulse.job.failed': 0,
    'jobpulse.job.total': TOTAL,
  });
  resources();
  const heartbeat = setInterval(resources, HEARTBEAT_S * 1000);
  let status = 'completed';
  try {
    await runStep(0, extract);
    await runStep(1, load);
    event('jobpulse.job.end', { 'jobpulse.job.status': status, ...counts(), ...currentStep() });
  } catch (error) {
    status = 'failed';
    event(
      'jobpulse.job.end',
      {
        'jobpulse.job.status': status,
        'exception.type': error.name || error.constructor?.name || 'Error',
        'exception.message': error.message,
        'exception.stacktrace': error.stack || String(error),
        ...counts(),
        ...currentStep(),
      },
      ['ERROR', SeverityNumber.ERROR],
    );
    root.recordException(error);
    root.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  } finally {
    clearInterval(heartbeat);
    root.end();
  }
  // Flush and shut down before exiting: shutdown() exports whatever is still queued.
  for (const provider of [tracerProvider, loggerProvider]) {
    try {
      await provider.shutdown();
    } catch (error) {
      telemetryProblems.push(`shutdown: ${error?.message ?? error}`);
    }
  }
  console.log(JSON.stringify({ job_id: jobId, status, records: seq, processed, failed }));
  if (telemetryProblems.length) {
    console.error(`telemetry was not delivered cleanly:\n  ${telemetryProblems.join('\n  ')}`);
    return 3;
  }
  return status === 'completed' ? 0 : 1;
}

process.exitCode = await main();
