// Subscribe to a USER table over /v1/ws and print every change: the README's live-query example.
// Usage: node examples/subscribe.mjs URL USER PASSWORD "SELECT * FROM ns.t [WHERE …]"   (Ctrl-C to stop)
import WebSocket from 'ws';

const [url = 'http://127.0.0.1:18081', username = 'root', password = '', sql = 'SELECT * FROM app.notes'] =
  process.argv.slice(2);
const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`);
ws.on('open', () => ws.send(JSON.stringify({ type: 'authenticate', method: 'basic', username, password })));
ws.on('message', (data) => {
  const msg = JSON.parse(data.toString());
  if (msg.type === 'auth_success') {
    ws.send(JSON.stringify({ type: 'subscribe', subscription: { id: 'notes', sql, options: { batch_size: 100 } } }));
  } else if (msg.type === 'initial_data_batch') {
    console.log(`initial rows: ${JSON.stringify(msg.rows)} (${msg.batch_control.status})`);
  } else if (msg.type === 'change') {
    console.log(
      `${msg.change_type}: ${JSON.stringify(msg.rows)}${msg.old_values ? ` was ${JSON.stringify(msg.old_values)}` : ''}`,
    );
  } else if (msg.type === 'auth_error' || msg.type === 'error') {
    console.error(`${msg.type}: ${msg.code ?? ''} ${msg.message}`);
  }
});
ws.on('close', (code) => console.log(`closed (${code})`));
