import type { ColumnInfo, Value } from './api.js';

function show(v: Value | undefined): string {
  if (v === null || v === undefined) return 'NULL';
  return typeof v === 'string' ? v : String(v);
}

/** A result set as a table: a header per column, one row per row (values shown as text, NULL marked). */
export function ResultTable({ schema, rows }: { schema: readonly ColumnInfo[]; rows: readonly (readonly Value[])[] }) {
  return (
    <table class="results">
      <thead>
        <tr>
          {schema.map((c) => (
            <th key={c.name} title={c.data_type}>
              {c.name}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row, i) => (
          <tr key={i}>
            {schema.map((_c, j) => (
              <td key={j} class={row[j] === null ? 'null' : ''}>
                {show(row[j])}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
