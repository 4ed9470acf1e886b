#!/usr/bin/env node
// bench/floors: what a single request cannot go below on this machine, measured one after another by one client
// (issue [M8] "Done when": the floor each part of the per-request time has). Each row runs for --seconds:
//   - http: an empty POST answered with `{}` by node:http on loopback, over one keep-alive connection;
//   - fdatasync: a 100-byte append to a file, then fdatasync (what one Raft log commit cannot go below);
//   - sqlite commit (FULL): a one-row INSERT in its own transaction, WAL, synchronous=FULL (raft.db's setting);
//   - sqlite insert (NORMAL): a one-row INSERT of 80 bytes in its own transaction, WAL, synchronous=NORMAL (data.db's);
//   - json: JSON.parse + JSON.stringify of a KalamDB-shaped SQL request and answer.
// Usage: node bench/floors/run.mjs [--seconds S] [--json] [--quick]   (also `kalam bench floors`; writes
//        bench/results/floors.json; --json prints the result object instead of the table; --quick: 0.5 s a row, no
//        results file)
import { Buffer } from 'node:buffer';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { createServer, Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { machine, percentile, printTable, writeResults } from '../lib.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds ?? (values.quick ? 0.5 : 3));
if (!(seconds > 0 && seconds <= 60)) {
  process.stderr.write(`bench floors: --seconds takes (0, 60], not ${values.seconds}\n`);
  process.exit(2);
}
const WINDOW_MS = seconds * 1000;
const OPS_MAX = 5_000_000; // a bound on every loop, whatever the clock says

/** Runs `op` (sync or async) back to back for the window; ops/s and latency percentiles in ms. */
async function measure(name, op) {
  const lat = [];
  const start = performance.now();
  while (performance.now() - start < WINDOW_MS && lat.length < OPS_MAX) {
    const t0 = performance.now();
    await op();
    lat.push(performance.now() - t0);
  }
  const elapsed = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  return {
    floor: name,
    opsPerS: Math.round(lat.length / elapsed),
    p50Ms: percentile(lat, 50),
    p99Ms: percentile(lat, 99),
  };
}

function httpFloor() {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
    });
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return new Promise((resolve, reject) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      const body = '{"sql":"SELECT 1"}';
      const op = () =>
        new Promise((done, fail) => {
          const req = request(
            { host: '127.0.0.1', port, method: 'POST', path: '/', agent, headers: { 'content-length': body.length } },
            (res) => {
              res.resume();
              res.on('end', done);
            },
          );
          req.on('error', fail);
          req.end(body);
        });
      measure('http: empty POST round trip (keep-alive)', op)
        .then(resolve, reject)
        .finally(() => {
          agent.destroy();
          server.close();
        });
    });
  });
}

async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-bench-floors-'));
  const rows = [];
  try {
    rows.push(await httpFloor());

    const fd = openSync(join(dir, 'log'), 'a');
    const chunk = Buffer.alloc(100, 1);
    rows.push(
      await measure('fdatasync: 100-byte append', () => {
        writeSync(fd, chunk);
        fdatasyncSync(fd);
      }),
    );
    closeSync(fd);

    for (const [sync, label] of [
      ['FULL', 'sqlite: one-row commit, WAL, synchronous=FULL'],
      ['NORMAL', 'sqlite: one-row commit, WAL, synchronous=NORMAL'],
    ]) {
      const db = new Database(join(dir, `${sync}.db`));
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${sync}`);
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
      const insert = db.prepare('INSERT INTO t (id, v) VALUES (?, ?)');
      const value = 'x'.repeat(80);
      let id = 0;
      rows.push(await measure(label, () => void insert.run(++id, value)));
      db.close();
    }

    const reqText = JSON.stringify({
      sql: 'INSERT INTO app.notes (id, body) VALUES ($1, $2)',
      params: [1, 'x'.repeat(80)],
    });
    const answer = {
      status: 'success',
      results: [{ row_count: 1, rows: [], schema: [], message: 'Inserted 1 row(s)' }],
      took: 1.2,
    };
    rows.push(
      await measure('json: parse a request, stringify its answer', () => {
        JSON.parse(reqText);
        JSON.stringify(answer);
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

const loadStart = loadavg();
const rows = await run();
const loadEnd = loadavg();
const f = (l) => l.map((x) => x.toFixed(2)).join(' ');
const columns = [
  { key: 'floor', title: 'floor' },
  { key: 'opsPerS', title: 'ops/s' },
  { key: 'p50Ms', title: 'p50 ms' },
  { key: 'p99Ms', title: 'p99 ms' },
];
const result = {
  bench: 'floors',
  title: 'What one request cannot go below on this machine (one client, back to back)',
  machine: machine(),
  seconds,
  loadavg: { start: loadStart, end: loadEnd },
  columns,
  rows,
  notes: [`load average (1, 5, 15 min): ${f(loadStart)} at the start, ${f(loadEnd)} at the end.`],
  resultsFile: values.quick ? null : 'bench/results/floors.json',
};
// One line: `kalam bench` reads the last line of stdout as the result.
if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  printTable(columns, rows, 3);
  process.stdout.write(`${result.notes[0]}\n`);
}
if (!values.quick) process.stderr.write(`written to ${writeResults('floors', result)}\n`);
