#!/usr/bin/env node
// The container health check: exit 0 when the node's liveness endpoint answers 200 within the bound, 1 otherwise.
// KALAM_HEALTH_URL names the endpoint (the image sets http://127.0.0.1:8080/v1/api/health/live); with TLS, point it at
// https://… and set NODE_EXTRA_CA_CERTS to the cluster's CA file so the node's certificate is trusted.
/* global fetch, AbortSignal */
const url = process.env.KALAM_HEALTH_URL ?? 'http://127.0.0.1:8080/v1/api/health/live';
const timeoutMs = Number(process.env.KALAM_HEALTH_TIMEOUT_MS ?? 2000);

try {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  await res.body?.cancel();
  if (!res.ok) console.error(`kalam health: ${url} answered ${res.status}`);
  process.exitCode = res.ok ? 0 : 1;
} catch (err) {
  console.error(`kalam health: ${url}: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
