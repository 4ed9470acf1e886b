/**
 * Cross-origin access to the API for browser applications served from another origin (a web app on @kalam/client
 * that talks to every node directly, so that its failover works). Off unless `[server] cors_origins` names the
 * origins: the API authenticates with Basic or a bearer token in a header, never a cookie, so allowing an origin lets
 * its pages send requests with credentials they already hold — nothing ambient rides along.
 *
 * Preflights (OPTIONS) of an allowed origin get 204 with the methods and headers the API uses; an answer to an
 * allowed origin carries Access-Control-Allow-Origin and exposes the shard-leader header the client routes by.
 * Anything else gets no CORS header, so the browser keeps the answer from the page.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The origins allowed; `*` allows any. */
export type CorsOrigins = readonly string[];

/** A `[server] cors_origins` entry: `*`, or scheme://host[:port] with nothing after it. */
export function corsOriginProblem(origin: string): string | undefined {
  if (origin === '*') return undefined;
  if (!/^https?:\/\/[^/?#@\s]+$/i.test(origin)) {
    return `"${origin}" is not an origin: write scheme://host[:port] (like "http://localhost:5173") or "*"`;
  }
  return undefined;
}

function allowed(origins: CorsOrigins, origin: string): boolean {
  return origins.includes('*') || origins.some((o) => o.toLowerCase() === origin.toLowerCase());
}

/**
 * Sets the CORS headers of `res` for `req`'s origin; answers a preflight itself and returns true (the caller
 * sends nothing more).
 */
export function applyCors(origins: CorsOrigins, req: IncomingMessage, res: ServerResponse, exposed: string): boolean {
  const origin = req.headers.origin;
  if (origins.length === 0 || origin === undefined || !allowed(origins, origin)) return false;
  res.setHeader('Access-Control-Allow-Origin', origins.includes('*') ? '*' : origin);
  res.setHeader('Vary', 'Origin');
  if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
    req.resume();
    res.writeHead(204, {
      'Access-Control-Allow-Methods': 'GET, POST',
      'Access-Control-Allow-Headers': 'Authorization, Content-Type',
      'Access-Control-Max-Age': '600',
      'Content-Length': '0',
    });
    res.end();
    return true;
  }
  res.setHeader('Access-Control-Expose-Headers', exposed);
  return false;
}
