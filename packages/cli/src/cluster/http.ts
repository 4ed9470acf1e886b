/**
 * One JSON request over loopback HTTP with a hard time bound, no keep-alive (nothing lingers after a command),
 * for the supervisor's control API and the nodes' APIs (https for a --tls cluster's nodes, trusting its CA: tls.ts). It resolves with the status and the parsed body, and
 * rejects with an HttpCallError (one line: what was called and why it failed) on a network error or timeout.
 */
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';

import { trustedCa } from './tls.js';

export interface JsonResponse {
  readonly status: number;
  readonly body: unknown;
}

export class HttpCallError extends Error {
  override readonly name = 'HttpCallError';
  constructor(
    message: string,
    readonly reason: 'timeout' | 'network' | 'bad-response',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface JsonRequest {
  readonly method?: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  readonly timeoutMs: number;
}

export function httpJson(url: string, req: JsonRequest): Promise<JsonResponse> {
  const method = req.method ?? (req.body === undefined ? 'GET' : 'POST');
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  const what = `${method} ${url}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: HttpCallError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
    };
    const https = url.startsWith('https:');
    const ca = https ? trustedCa() : undefined;
    const call = (https ? httpsRequest : request)(
      url,
      {
        method,
        agent: false,
        ...(ca !== undefined && { ca }),
        headers: {
          ...req.headers,
          Connection: 'close',
          ...(payload !== undefined && {
            'Content-Type': 'application/json',
            'Content-Length': String(Buffer.byteLength(payload)),
          }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => fail(new HttpCallError(`${what}: ${err.message}`, 'network', { cause: err })));
        res.on('end', () => {
          if (settled) return;
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = undefined;
          if (text.length > 0) {
            try {
              body = JSON.parse(text);
            } catch (err) {
              fail(new HttpCallError(`${what}: the answer is not JSON`, 'bad-response', { cause: err }));
              return;
            }
          }
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    const timer = setTimeout(() => {
      fail(new HttpCallError(`${what}: no answer within ${req.timeoutMs} ms`, 'timeout'));
      call.destroy();
    }, req.timeoutMs);
    call.on('error', (err) => fail(new HttpCallError(`${what}: ${err.message}`, 'network', { cause: err })));
    call.end(payload);
  });
}

/** The `error.message` of a Kalam API error body, or the status. */
export function apiErrorMessage(res: JsonResponse): string {
  const error = (res.body as { error?: { message?: unknown } } | undefined)?.error;
  return typeof error?.message === 'string' ? error.message : `HTTP ${res.status}`;
}
