/**
 * WebSocket keep-alive: a ping every interval; a socket that has not answered the previous ping (nor sent
 * anything) by the next one is terminated, so a half-open TCP connection is noticed within two intervals.
 */
import type { WebSocket } from 'ws';

export function keepAlive(ws: WebSocket, intervalMs: number): () => void {
  let alive = true;
  const markAlive = (): void => {
    alive = true;
  };
  ws.on('pong', markAlive);
  ws.on('message', markAlive);
  const timer = setInterval(() => {
    if (!alive) {
      ws.terminate();
      return;
    }
    alive = false;
    ws.ping();
  }, intervalMs);
  return () => {
    clearInterval(timer);
    ws.off('pong', markAlive);
    ws.off('message', markAlive);
  };
}
