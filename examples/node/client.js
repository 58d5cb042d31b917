#!/usr/bin/env node
// A Node.js client of ibmq-gateway: list the backends, submit a Bell circuit in OpenQASM 3,
// follow the job's status stream and print the counts.
//
//   node client.js [ADDRESS] [BACKEND]
//
// ADDRESS defaults to $IBMQ_GATEWAY_ADDRESS, else 127.0.0.1:50051; BACKEND to aer_simulator.
// The gateway's token comes from $IBMQ_GATEWAY_TOKEN (see the repository's README).
'use strict';

const crypto = require('node:crypto');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const address = process.argv[2] || process.env.IBMQ_GATEWAY_ADDRESS || '127.0.0.1:50051';
const backend = process.argv[3] || 'aer_simulator';
const SHOTS = 1024;

// Every call carries the caller's token; only the gateway's health check answers without.
const metadata = new grpc.Metadata();
if (process.env.IBMQ_GATEWAY_TOKEN) {
  metadata.set('authorization', `Bearer ${process.env.IBMQ_GATEWAY_TOKEN}`);
}

const BELL_QASM3 = `OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
`;

// The repository's .proto files are the contract: load them at run time, nothing generated.
// The google/protobuf imports (Struct, Timestamp, Duration) resolve from the copies bundled
// with proto-loader's protobufjs, so only our own directory needs to be on the path.
const PROTOS = path.join(__dirname, '..', '..', 'protos');
const definition = protoLoader.loadSync(
  ['ibmq_gateway/v1/job_service.proto', 'ibmq_gateway/v1/backend_service.proto'],
  {
    includeDirs: [PROTOS],
    keepCase: true, // field names as in the .proto (resume_token, not resumeToken)
    longs: String, // int64 (sequence, counts, seconds) would lose precision as numbers
    enums: String, // 'JOB_STATE_COMPLETED' rather than 6
    defaults: true, // unset scalars read as 0/''/false, as in every other proto runtime
    oneofs: true, // a virtual field names which member of a oneof is set (event | heartbeat)
  },
);
const v1 = grpc.loadPackageDefinition(definition).ibmq_gateway.v1;

// Every call has a deadline, so that a stuck gateway or a job that never ends fails the
// script instead of hanging it. A job waiting behind a long queue needs a longer watch.
const UNARY_SECONDS = 30;
const WATCH_SECONDS = 300;
const deadline = (seconds) => new Date(Date.now() + seconds * 1000);

// The callback API of grpc-js, as promises, so that the steps read top to bottom.
function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: deadline(UNARY_SECONDS) }, (error, response) => {
      if (error) reject(rpcError(method, error));
      else resolve(response);
    });
  });
}

// Failures are reported on one line, so that scripts can show or match them as they are.
const oneLine = (text) => String(text).replace(/\s+/g, ' ').trim();

function rpcError(method, error) {
  // The status name (NOT_FOUND, UNAVAILABLE, ...) says more than its number.
  const code = Object.keys(grpc.status).find((name) => grpc.status[name] === error.code);
  const details = oneLine(error.details || error.message);
  return new Error(`${method} failed: ${code || error.code}: ${details}`);
}

// Timestamps arrive as {seconds: '1700000000', nanos: 123000000} (seconds is an int64).
function isoTime(timestamp) {
  if (!timestamp) return '-';
  return new Date(Number(timestamp.seconds) * 1000 + timestamp.nanos / 1e6).toISOString();
}

const stateName = (state) => state.replace(/^JOB_STATE_/, '');

// Follows the job from `resumeToken` until the stream ends; resolves with the job as it
// stood at its last event. The server ends the stream with OK right after the final event.
function followJob(jobs, jobId, resumeToken, lastJob) {
  return new Promise((resolve, reject) => {
    let last = lastJob;
    const stream = jobs.WatchJob(
      { job_id: jobId, resume_token: resumeToken },
      metadata,
      { deadline: deadline(WATCH_SECONDS) },
    );
    stream.on('data', (message) => {
      // Heartbeats only prove the stream is alive; events carry the job after each change.
      if (message.kind !== 'event') return;
      const { job, event_time: eventTime } = message.event;
      // Queue-position updates repeat the state; print a line only when the state moves.
      if (job.state !== last.state) {
        console.log(`status ${stateName(job.state)} ${isoTime(eventTime)}`);
      }
      last = job;
    });
    stream.on('error', (error) => reject(rpcError('WatchJob', error)));
    stream.on('end', () => resolve(last));
  });
}

async function main() {
  const credentials = grpc.credentials.createInsecure();
  const backends = new v1.BackendService(address, credentials);
  const jobs = new v1.JobService(address, credentials);
  try {
    const listing = await call(backends, 'ListBackends', { omit_targets: true });
    console.log(`backends ${listing.backends.map((b) => b.name).join(' ')}`);

    const submitted = await call(jobs, 'SubmitJob', {
      // A fresh request id makes a retried submit return the same job instead of a second one.
      request_id: crypto.randomUUID(),
      backend,
      circuits: [{ qasm3: BELL_QASM3 }],
      run_options: { shots: SHOTS },
      name: 'bell-from-node',
    });
    const job = submitted.job;
    console.log(`submitted ${job.id} to ${job.backend} (${SHOTS} shots)`);
    console.log(`status ${stateName(job.state)} ${isoTime(job.create_time)}`);

    // The submit response's token continues right after its snapshot, so no step the job
    // takes between the submit and the watch is missed.
    const final = job.final ? job : await followJob(jobs, job.id, submitted.resume_token, job);
    if (!final.final) throw new Error(`job ${job.id} stream ended while ${stateName(final.state)}`);
    if (final.state !== 'JOB_STATE_COMPLETED') {
      const why = final.error && final.error.message ? `: ${oneLine(final.error.message)}` : '';
      throw new Error(`job ${job.id} ended ${stateName(final.state)}${why}`);
    }

    const { result } = await call(jobs, 'GetJobResult', { job_id: job.id });
    // Counts are int64 (strings here) and fit a JS number, so print them as numbers. The
    // JSON is joined by hand: a JS object would list "11" before "00" (integer-like keys
    // come first), and sorted outcomes are easier to read.
    const counts = result.results[0].counts;
    const pairs = Object.keys(counts)
      .sort()
      .map((outcome) => `${JSON.stringify(outcome)}:${Number(counts[outcome])}`);
    console.log(`counts {${pairs.join(',')}}`);
  } finally {
    backends.close();
    jobs.close();
  }
}

main().catch((error) => {
  console.error(`error: ${error.message}`);
  process.exitCode = 1;
});
