/**
 * The web console's files (packages/console, built to its dist/ by `node packages/console/build.mjs`), served by
 * every node at `/console` (index.html) and `/console/assets/<name>-<hash>.<ext>`:
 *
 * - index.html is revalidated on every load (`no-cache`), the assets it names carry their content hash in their
 *   name and are cached for a year (`immutable`): a rebuilt console is seen at the next reload, never half old.
 * - A strict Content-Security-Policy: scripts, styles and connections (fetch, and the WebSocket on /v1/ws) only
 *   from this node; no inline script or style, no frames, no plugins. The page loads nothing from elsewhere.
 * - When the console was not built (no dist/index.html), /console answers 503 with a page that names the build
 *   command; an unknown path under /console answers 404. Only names of files in dist/assets are served (no path
 *   separators, no dot-dot), so nothing outside that folder can be reached.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const CONSOLE_PATH = '/console';

const BUILD_COMMAND = 'npm run build';
const BUILD_SCRIPT = 'node packages/console/build.mjs';

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  // 'self' covers ws: and wss: to this same host and port (CSP Level 3): the live-query viewer's WebSocket.
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
} as const;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/** A hashed asset's name: esbuild's `[name]-[hash].ext` (letters, digits, `-`, `_`, `.`; never `..`). */
const ASSET_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.[a-z0-9]+$/;

/** packages/console/dist, found through the workspace package (undefined when it is not installed at all). */
function consoleDist(): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@kalam/console/package.json')), 'dist');
  } catch {
    return undefined;
  }
}

const DIST = consoleDist();

export function isConsolePath(path: string): boolean {
  return path === CONSOLE_PATH || path.startsWith(`${CONSOLE_PATH}/`);
}

/** Answers a GET or HEAD of a /console path (any other method: 405); `dist` is the built folder (tests change it). */
export async function serveConsole(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  dist: string | undefined = DIST,
): Promise<void> {
  req.resume();
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return sendPage(
      res,
      405,
      'Method not allowed',
      `<p>${escapeHtml(req.method ?? '')} is not allowed on the console.</p>`,
    );
  }
  const index = dist === undefined ? undefined : await readOrUndefined(join(dist, 'index.html'));
  if (dist === undefined || index === undefined) {
    return sendPage(
      res,
      503,
      'The console is not built',
      `<p>This node serves the Kalam console from <code>packages/console/dist</code>, which does not exist yet.</p>
<p>Build it with <code>${BUILD_COMMAND}</code> (or <code>${BUILD_SCRIPT}</code>) and reload this page.</p>`,
    );
  }
  if (path === CONSOLE_PATH || path === `${CONSOLE_PATH}/` || path === `${CONSOLE_PATH}/index.html`) {
    return send(req, res, 200, 'text/html; charset=utf-8', 'no-cache', index);
  }
  const name = path.startsWith(`${CONSOLE_PATH}/assets/`) ? path.slice(`${CONSOLE_PATH}/assets/`.length) : '';
  const ext = name.slice(name.lastIndexOf('.'));
  const type = CONTENT_TYPES[ext];
  const body =
    ASSET_NAME.test(name) && type !== undefined ? await readOrUndefined(join(dist, 'assets', name)) : undefined;
  if (type === undefined || body === undefined) {
    return sendPage(
      res,
      404,
      'Not found',
      `<p>No console file <code>${escapeHtml(path)}</code>. The console is at <a href="${CONSOLE_PATH}">${CONSOLE_PATH}</a>.</p>`,
    );
  }
  return send(req, res, 200, type, 'public, max-age=31536000, immutable', body);
}

async function readOrUndefined(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EISDIR') {
      return undefined;
    }
    throw err;
  }
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  cache: string,
  body: Buffer | string,
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': type,
    'Cache-Control': cache,
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** A small self-contained HTML page (no script, its style under the same CSP: none inline, so plain). */
function sendPage(res: ServerResponse, status: number, title: string, bodyHtml: string): void {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · Kalam console</title></head>
<body><h1>${escapeHtml(title)}</h1>
${bodyHtml}
</body></html>
`;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(html),
  });
  res.end(html);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
