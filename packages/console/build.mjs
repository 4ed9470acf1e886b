#!/usr/bin/env node
// Builds the web console into dist/: type-checks src/ (tsc, no output), bundles it with esbuild (Preact, minified,
// one JS and one CSS file named by content hash), and writes dist/index.html that names them. Nodes serve dist/ at
// /console (packages/server/src/console.ts): the hashed names let the assets be cached for good while index.html is
// revalidated. Nothing is fetched at run time: every byte the page uses is in dist/.
// Usage: node packages/console/build.mjs   (run by `npm run build`, `make build` and .ci/run after `tsc -b`)
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
const dist = join(here, 'dist');
const require = createRequire(import.meta.url);

const check = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', here], { stdio: 'inherit' });
if (check.status !== 0) {
  console.error('console: type errors in packages/console/src (above); nothing built');
  process.exit(1);
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
const result = await build({
  absWorkingDir: here,
  entryPoints: { app: 'src/main.tsx' },
  outdir: join(dist, 'assets'),
  entryNames: '[name]-[hash]',
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
if (js === undefined || css === undefined) {
  console.error(`console: esbuild wrote ${outputs.join(', ')}: expected one .js and one .css`);
  process.exit(1);
}
const html = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Kalam console</title>
    <link rel="stylesheet" href="/console/assets/${css}" />
    <script type="module" src="/console/assets/${js}"></script>
  </head>
  <body>
    <div id="app"></div>
  </body>
</html>
`;
writeFileSync(join(dist, 'index.html'), html);
console.log(`console: built packages/console/dist (${outputs.join(', ')}, index.html)`);
