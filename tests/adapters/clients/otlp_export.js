// Sends log records through the official OpenTelemetry JS SDK and one of its OTLP/HTTP exporters.
// Config on stdin: {url, token, protocol: "json" | "proto", count, baseSeconds}. Prints a JSON report.
'use strict';
const { context, trace, TraceFlags } = require('@opentelemetry/api');
const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { resourceFromAttributes } = require('@opentelemetry/resources');

function exporterFor(config) {
  const options = { url: config.url, headers: { Authorization: `Bearer ${config.token}` } };
  if (config.protocol === 'proto') {
    return new (require('@opentelemetry/exporter-logs-otlp-proto').OTLPLogExporter)(options);
  }
  return new (require('@opentelemetry/exporter-logs-otlp-http').OTLPLogExporter)(options);
}

// Record i: every AnyValue type the SDK sends (string, bool, int, double, array, map, bytes).
function record(i, config) {
  const body = i % 10 ? `payment ${i} accepted` : { order: i, items: [{ sku: 'x', qty: 2 }], ok: true };
  const spanContext = {
    traceId: (0x10000000 + i).toString(16).padStart(32, '0'),
    spanId: (0x20000000 + i).toString(16).padStart(16, '0'),
    traceFlags: TraceFlags.SAMPLED,
  };
  return {
    timestamp: [config.baseSeconds, i * 1000 + 7],
    observedTimestamp: [config.baseSeconds, i * 1000 + 12],
    severityNumber: 17,
    severityText: 'ERROR',
    body,
    eventName: i % 7 === 0 ? 'payment.accepted' : undefined,
    context: trace.setSpanContext(context.active(), spanContext),
    attributes: {
      text: `v${i}`,
      flag: i % 2 === 0,
      count: 2 ** 40 + i,
      ratio: i + 0.25,
      tags: ['a', `t${i}`],
      mixed: [1, 'a', true, 2.5],
      map: { k: 'v', n: 3, deep: { list: [i] } },
      raw: new Uint8Array([0, 1, 2, i % 256]),
    },
  };
}

async function main() {
  const config = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  const exporter = exporterFor(config);
  const results = [];
  const exportBatch = exporter.export.bind(exporter);
  exporter.export = (logs, done) => exportBatch(logs, (result) => { results.push(result.code); done(result); });
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': config.service, 'k8s.namespace.name': 'payments', 'host.name': 'host-2' }),
    processors: [new BatchLogRecordProcessor({ exporter, maxExportBatchSize: 500, maxQueueSize: config.count })],
  });
  const logger = provider.getLogger('checkout.payments', '1.2.3');
  for (let i = 0; i < config.count; i++) logger.emit(record(i, config));
  await provider.forceFlush();
  await provider.shutdown();
  console.log(JSON.stringify({ results }));
}

main().catch((error) => { console.error(error); process.exit(1); });
