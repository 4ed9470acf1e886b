#!/usr/bin/env node
// The todo example's static server: bundles src/app.ts (and @kalam/client) for the browser with esbuild when it
// starts, then serves index.html, app.js and config.json (the node list the page's client talks to). The page calls
// the nodes' API from this server's origin, so every node needs `[server] cors_origins` naming it — e.g.
// `kalam cluster up --nodes 3 --cors-origin http://127.0.0.1:8080`.
// Usage: node examples/todo/serve.mjs --nodes URL,URL,URL [--port 8080] [--host 127.0.0.1]   (--port 0: any free one)
// Prints one line when it listens: `todo: http://HOST:PORT/ (nodes …)`; stops on SIGINT / SIGTERM.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { build } from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));

const { values } = parseArgs({
  options: {
    nodes: { type: 'string' },
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const nodes = (values.nodes ?? '')
  .split(',')
  .map((n) => n.trim().replace(/\/$/, ''))
  .filter((n) => n !== '');
const port = Number(values.port);
if (nodes.length === 0 || nodes.some((n) => !/^https?:\/\/[^/]+$/.test(n)) || !Number.isInteger(port)) {
  console.error('usage: node examples/todo/serve.mjs --nodes http://127.0.0.1:18081,… [--port 8080] [--host H]');
  process.exit(2);
}

// One bundle per start: the page and the client library, no source maps, nothing fetched at run time.
const bundled = await build({
  entryPoints: [join(here, 'src', 'app.ts')],
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  logLevel: 'warning',
});
const files = new Map([
  ['/', { type: 'text/html; charset=utf-8', body: readFileSync(join(here, 'index.html')) }],
  ['/app.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from(bundled.outputFiles[0].contents) }],
  ['/config.json', { type: 'application/json', body: Buffer.from(JSON.stringify({ nodes })) }],
]);

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const file = files.get(path === '/index.html' ? '/' : path);
  if (req.method !== 'GET' || file === undefined) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    return;
  }
  res.writeHead(200, { 'Content-Type': file.type, 'Cache-Control': 'no-store' }).end(file.body);
});
server.listen(port, values.host, () => {
  const address = server.address();
  const url = `http://${values.host}:${typeof address === 'object' && address !== null ? address.port : port}/`;
  console.log(`todo: ${url} (nodes ${nodes.join(', ')})`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
