/**
 * A simulation worker thread: receives SimOptions, runs them, and posts back one RunOutcome each.
 */
import { parentPort } from 'node:worker_threads';
import type { SimOptions } from '@kalam/sim';
import { runSimulation } from '@kalam/sim';
import type { WorkerReply } from './runner.js';
import { runOne } from './runner.js';

const port = parentPort;
if (port === null) throw new Error('sim/worker.js runs only as a worker thread');
port.on('message', (options: SimOptions) => {
  const reply: WorkerReply = runOne(runSimulation, options);
  port.postMessage(reply);
});
