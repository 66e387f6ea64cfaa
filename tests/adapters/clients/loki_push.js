// Pushes lines through a real Loki client. Config on stdin:
// {client: "winston" | "pino", host, token, count, baseMs, job}. Prints a JSON report.
'use strict';

async function winstonPush(config) {
  // Protobuf with snappy: winston-loki falls back to JSON when snappy cannot load, so check it loads.
  require('snappy');
  const winston = require('winston');
  const LokiTransport = require('winston-loki');
  const errors = [];
  const transport = new LokiTransport({
    host: config.host,
    json: false,
    replaceTimestamp: false,
    batching: true,
    interval: 60,
    labels: { job: config.job },
    headers: { Authorization: `Bearer ${config.token}`, 'X-Scope-OrgID': config.orgId },
    format: winston.format.printf((info) => info.message),
    onConnectionError: (error) => errors.push(String(error)),
  });
  const logger = winston.createLogger({ transports: [transport] });
  for (let i = 0; i < config.count; i++) {
    logger.log({ level: i % 3 ? 'info' : 'warn', message: `winston line ${i} ✓`, timestamp: new Date(config.baseMs + i).toISOString() });
  }
  await new Promise((resolve) => setTimeout(resolve, 200)); // winston hands entries over asynchronously
  await transport.batcher.sendBatchToLoki();
  return { errors, contentType: transport.batcher.contentType };
}

async function pinoPush(config) {
  const pino = require('pino');
  const pinoLoki = require('pino-loki').default;
  const stream = await pinoLoki({
    host: config.host,
    headers: { Authorization: `Bearer ${config.token}` },
    labels: { job: config.job },
    batching: { interval: 60 },
    silenceErrors: false,
  });
  const logger = pino({ base: { hostname: 'pino-host' } }, stream);
  for (let i = 0; i < config.count; i++) {
    logger.info({ meta: { request_id: `r${i}`, attempt: i % 4 } }, `pino line ${i}`);
  }
  await new Promise((resolve) => { stream.on('close', resolve); stream.end(); });
  return { errors: [] };
}

async function main() {
  const config = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  const report = config.client === 'winston' ? await winstonPush(config) : await pinoPush(config);
  console.log(JSON.stringify(report));
  process.exit(0); // the clients keep batching timers alive
}

main().catch((error) => { console.error(error); process.exit(1); });
