// Subscribe to a USER table and print every change, through @kalam/client (packages/client): the README's live-query
// example. Give several nodes (comma-separated): when the subscriber's node dies, the client resumes on another from
// the last `_seq` it printed — nothing twice, nothing skipped.
// Usage: node examples/subscribe.mjs URL[,URL…] USER PASSWORD "SELECT * FROM ns.t [WHERE …]"   (Ctrl-C to stop)
import { createClient } from '@kalam/client';

const [urls = 'http://127.0.0.1:18081', user = 'root', password = '', sql = 'SELECT * FROM app.notes'] =
  process.argv.slice(2);
const db = createClient({ nodes: urls.split(','), user, password });
const sub = await db.subscribe(sql, {
  onInitial: (e) => console.log(`initial rows: ${JSON.stringify(e.rows)} (at _seq ${e.seq})`),
  onChange: (e) =>
    console.log(`${e.changeType}: ${JSON.stringify(e.row)}${e.old ? ` was ${JSON.stringify(e.old)}` : ''}`),
  onResume: (r) => console.log(`resumed on ${r.node} after _seq ${r.fromSeq}`),
  onError: (err) => console.error(`${err.code}: ${err.message}`),
});
process.once('SIGINT', () => void db.close());
const error = await sub.ended;
process.exitCode = error === null ? 0 : 1;
