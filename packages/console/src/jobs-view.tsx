/** Jobs (system.jobs, newest first) and schedules (system.schedules), refreshed every few seconds; dba and system. */
import { runSql } from './api.js';
import type { QueryResult } from './api.js';
import { errorText, usePoll } from './poll.js';
import { ResultTable } from './results.js';

const POLL_MS = 5000;
const JOBS_SQL = 'SELECT * FROM system.jobs ORDER BY created_at DESC LIMIT 100';
const SCHEDULES_SQL = 'SELECT * FROM system.schedules';

async function one(token: string, sql: string): Promise<QueryResult> {
  const r = (await runSql(token, sql)).results[0];
  if (r === undefined) throw new Error(`no result for ${sql}`);
  return r;
}

function Panel({
  title,
  token,
  sql,
  onError,
}: {
  title: string;
  token: string;
  sql: string;
  onError: (e: unknown) => void;
}) {
  const { value, error } = usePoll(() => one(token, sql), POLL_MS, onError);
  return (
    <div class="panel" data-panel={title}>
      <h2>
        {title} <span class="muted small">{value === null ? '' : `${value.row_count} row(s)`}</span>
      </h2>
      <p class="muted small mono">{sql}</p>
      {error !== null && <p class="error">{errorText(error)}</p>}
      {value !== null && <ResultTable schema={value.schema} rows={value.rows} />}
    </div>
  );
}

export function JobsView({ token, onError }: { token: string; onError: (err: unknown) => void }) {
  return (
    <section>
      <Panel title="Jobs" token={token} sql={JOBS_SQL} onError={onError} />
      <Panel title="Schedules" token={token} sql={SCHEDULES_SQL} onError={onError} />
    </section>
  );
}
