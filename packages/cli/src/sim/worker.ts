/**
 * A simulation worker thread: receives SimOptions, runs them, and posts back one RunOutcome each.
 */
import { parentPort } from 'node:worker_threads';
import type { SimRun, WorkerReply } from './runner.js';
import { runAnySimulation, runOne } from './runner.js';

const port = parentPort;
if (port === null) throw new Error('sim/worker.js runs only as a worker thread');
port.on('message', (options: SimRun) => {
  void runOne(runAnySimulation, options).then((reply: WorkerReply) => port.postMessage(reply));
});
