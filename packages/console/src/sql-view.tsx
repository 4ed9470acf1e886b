/** The SQL editor: a statement (or several, `;`-separated), Run (or Ctrl/⌘+Enter), each result's table, or the error. */
import { useState } from 'preact/hooks';

import { runSql } from './api.js';
import type { SqlAnswer } from './api.js';
import { errorText } from './poll.js';
import { ResultTable } from './results.js';

export function SqlView({ token, onError }: { token: string; onError: (err: unknown) => void }) {
  const [sql, setSql] = useState('SELECT * FROM system.namespaces');
  const [answer, setAnswer] = useState<SqlAnswer | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = (): void => {
    setBusy(true);
    setError(null);
    runSql(token, sql)
      .then((a) => setAnswer(a))
      .catch((err: unknown) => {
        setAnswer(null);
        setError(errorText(err));
        onError(err);
      })
      .finally(() => setBusy(false));
  };
  return (
    <section class="sql">
      <textarea
        name="sql"
        spellcheck={false}
        value={sql}
        onInput={(e) => setSql(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) run();
        }}
      />
      <div class="bar">
        <button class="primary" data-action="run" disabled={busy} onClick={run}>
          {busy ? 'Running…' : 'Run'}
        </button>
        {answer !== null && <span class="muted small">took {answer.took} ms</span>}
      </div>
      {error !== null && (
        <p class="error" role="alert" data-sql-error>
          {error}
        </p>
      )}
      {answer?.results.map((r, i) => (
        <div key={i} class="result" data-result={i}>
          <div class="muted small">{r.message ?? `${r.row_count} row(s)`}</div>
          {r.schema.length > 0 && <ResultTable schema={r.schema} rows={r.rows} />}
        </div>
      ))}
    </section>
  );
}
