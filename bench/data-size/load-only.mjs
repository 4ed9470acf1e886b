#!/usr/bin/env node
// bench/data-size/load-only.mjs (issue [M8] §3): the load phase of bench/data-size alone, to look at what holds a
// node's memory. A 3-node cluster of `kalam serve` processes (the test harness), one client loading rows of ~1 KB by
// 500-row INSERTs through node 1 into a USER table; prints one JSON line: rows acknowledged, load seconds, each node's
// peak and last RSS (MB, sampled every 250 ms), elections during the load and the load average before and after,
// failed INSERTs by code, and a timeline: at every --every rows sent (default 100,000), the seconds since the load
// began, the rows acknowledged, the elections so far (the growth of the term sum, asked of the nodes then) and each
// node's peak RSS so far (whether memory grows with the rows loaded); and each node's CPU seconds during the load.
//
// Usage: node bench/data-size/load-only.mjs [--rows N] [--log-bytes-max N] [--signal-at N --signal SIG --smaps-dir DIR]
//   [--label NAME] [--every N]   --log-bytes-max: every node's `cluster.raft.log_bytes_max` (default: the config's default).
//   --signal-at: once N rows have been sent, copy every node's /proc/<pid>/smaps into --smaps-dir (when given) and
//   send every node SIG — with NODE_OPTIONS="--report-on-signal --report-signal=SIGUSR2 --report-directory=DIR" a
//   Node report, with "--heapsnapshot-signal=SIGUSR1 --diagnostic-dir=DIR" a heap snapshot (the nodes inherit the
//   environment). Nodes and their data are removed on success and failure.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  allStatuses,
  basicAuth,
  loadHarness,
  loadRows,
  login,
  settledTermSum,
  sqlExecute,
  termSum,
} from '../cluster.mjs';
import { RssSampler } from '../rss.mjs';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    'signal-at': { type: 'string' },
    signal: { type: 'string', default: 'SIGUSR2' },
    'smaps-dir': { type: 'string' },
    label: { type: 'string' },
    'log-bytes-max': { type: 'string' },
    every: { type: 'string', default: '100000' },
  },
});
const ROWS = Number(values.rows);
const SIGNAL_AT = values['signal-at'] === undefined ? null : Number(values['signal-at']);
const EVERY = Number(values.every);
/** CPU seconds (user + system, all threads) process `pid` has used: fields 14 and 15 of /proc/<pid>/stat. */
const cpuSeconds = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks: USER_HZ is 100 on Linux
};
const progress = (s) => process.stderr.write(`load-only: ${s}\n`);

const { KalamNodes, ROOT_PASSWORD } = await loadHarness('load-only');
const root = basicAuth('root', ROOT_PASSWORD);
const names = ['node 1', 'node 2', 'node 3'];
const loadBefore = loadavg();
const sampler = new RssSampler();
const logBytesMax = values['log-bytes-max'];
const nodes = await KalamNodes.start({
  members: 3,
  ...(logBytesMax === undefined ? {} : { env: { KALAM_CLUSTER_RAFT_LOG_BYTES_MAX: logBytesMax } }),
});
try {
  const urls = nodes.ids().map((id) => nodes.url(id));
  nodes.ids().forEach((id, i) => sampler.track(names[i], nodes.pid(id)));
  await settledTermSum(urls, root, { quietMs: 2_000, deadlineMs: Date.now() + 90_000 });
  await sqlExecute(
    urls[0],
    root,
    'CREATE NAMESPACE bench; CREATE USER TABLE bench.bulk (id BIGINT PRIMARY KEY, v TEXT); ' +
      "CREATE USER 'loader' WITH PASSWORD 'loader-pw' ROLE user",
  );
  const auth = await login(urls[0], 'loader', 'loader-pw');
  const termsBefore = termSum(await allStatuses(urls, root));
  sampler.resetPeaks();
  const cpuBefore = nodes.ids().map((id) => cpuSeconds(nodes.pid(id)));
  const startedAt = performance.now();
  const timeline = [];
  let nextMark = EVERY;
  // A point of the timeline; its elections are asked of the nodes now and awaited at the end (progress is sync).
  const mark = (sent, acknowledged) => {
    const s = Math.round((performance.now() - startedAt) / 100) / 10;
    const elections = allStatuses(urls, root).then(
      (st) => termSum(st) - termsBefore,
      () => null,
    );
    const rss = sampler.report();
    const peakMb = names.map((n) => rss[n].peakMb);
    timeline.push({ sent, acknowledged, s, elections, peakMb });
    progress(`${sent} rows sent, ${acknowledged} acknowledged, ${s} s, peak RSS so far ${peakMb.join(' / ')} MB`);
  };
  let signalled = false;
  const signalNodes = (sent) => {
    signalled = true;
    const rss = sampler.report();
    progress(`${sent} rows sent: RSS ${names.map((n) => rss[n].lastMb).join(' / ')} MB; sending ${values.signal}`);
    for (const id of nodes.ids()) {
      const pid = nodes.pid(id);
      if (values['smaps-dir'] !== undefined) {
        const file = join(values['smaps-dir'], `smaps-${values.label ?? 'load'}-n${id}`);
        writeFileSync(file, readFileSync(`/proc/${pid}/smaps`));
      }
      process.kill(pid, values.signal);
    }
  };
  const load = await loadRows({
    url: urls[0],
    auth,
    table: 'bench.bulk',
    rows: ROWS,
    batch: 500,
    bytes: 1000,
    onProgress: (s) => {
      // loadRows reports "<sent> rows sent, <acknowledged> acknowledged" every 20 INSERTs.
      const sent = Number(s.split(' ')[0]);
      if (sent >= nextMark) {
        mark(sent, Number(s.split(' ')[3]));
        while (nextMark <= sent) nextMark += EVERY;
      }
      if (SIGNAL_AT !== null && !signalled && sent >= SIGNAL_AT) signalNodes(sent);
    },
  });
  const rss = sampler.report();
  const cpuS = nodes.ids().map((id, i) => Math.round((cpuSeconds(nodes.pid(id)) - cpuBefore[i]) * 10) / 10);
  const termsAfter = termSum(await allStatuses(urls, root));
  const fixed = (l) => l.map((x) => x.toFixed(1)).join(' ');
  process.stdout.write(
    `${JSON.stringify({
      label: values.label ?? null,
      logBytesMax: logBytesMax ?? 'default',
      rows: load.acknowledged,
      loadS: Math.round(load.seconds * 10) / 10,
      peakRssMb: names.map((n) => rss[n].peakMb),
      lastRssMb: names.map((n) => rss[n].lastMb),
      cpuS,
      elections: termsAfter - termsBefore,
      failures: load.failures,
      timeline: await Promise.all(timeline.map(async (p) => ({ ...p, elections: await p.elections }))),
      loadAverage: { before: fixed(loadBefore), after: fixed(loadavg()) },
    })}\n`,
  );
} finally {
  sampler.stop();
  await nodes.close();
}
