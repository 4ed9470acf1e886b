/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for the metrics tests: every line must
 * be a `# HELP`, a `# TYPE` or a sample of the family its TYPE announced, label values escaped as the format says,
 * every family announced once; anything else throws, naming the line. Histograms' `_bucket`, `_sum` and `_count`
 * samples belong to their family.
 */
import assert from 'node:assert/strict';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (\\S+)$`);
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);

/** The families of an exposition text, by name; throws on the first line that breaks the format. */
export function parseExposition(text: string): Map<string, Family> {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const families = new Map<string, Family>();
  const help = new Map<string, string>();
  let current: Family | undefined;
  text.split('\n').forEach((line, i) => {
    const where = `line ${i + 1}: ${line}`;
    if (line === '') return;
    const h = HELP_LINE.exec(line);
    if (h !== null) {
      assert.ok(!help.has(h[1]!), `${where}: a second HELP`);
      help.set(h[1]!, h[2]!);
      return;
    }
    const t = TYPE_LINE.exec(line);
    if (t !== null) {
      const [, name, type] = t as unknown as [string, string, string];
      assert.ok(TYPES.has(type), `${where}: unknown type`);
      assert.ok(!families.has(name), `${where}: the family is announced twice`);
      current = { name, type: type as MetricType, help: help.get(name) ?? '', samples: [] };
      families.set(name, current);
      return;
    }
    assert.ok(!line.startsWith('#'), `${where}: a comment that is neither HELP nor TYPE`);
    const s = SAMPLE_LINE.exec(line);
    assert.ok(s !== null, `${where}: not a sample`);
    const [, name, labelText, valueText] = s as unknown as [string, string, string | undefined, string];
    assert.ok(current !== undefined && belongsTo(name, current), `${where}: a sample outside its family`);
    const value = parseValue(valueText);
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(valueText), `${where}: not a number`);
    current.samples.push({ name, labels: parseLabels(labelText ?? '', where), value });
  });
  return families;
}

function belongsTo(sample: string, family: Family): boolean {
  if (sample === family.name) return true;
  if (family.type !== 'histogram' && family.type !== 'summary') return false;
  const suffix = sample.slice(family.name.length);
  return sample.startsWith(family.name) && ['_bucket', '_sum', '_count'].includes(suffix);
}

/** A float as Prometheus reads it (Go's ParseFloat: NaN and Inf in any case; prom-client writes `Nan`). */
function parseValue(text: string): number {
  if (/^nan$/i.test(text)) return NaN;
  const inf = /^([+-]?)inf(inity)?$/i.exec(text);
  if (inf !== null) return inf[1] === '-' ? -Infinity : Infinity;
  return Number(text);
}

/** `a="x",b="y\"z"`: values escape only backslash, double quote and newline. */
function parseLabels(text: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    assert.ok(eq > i && text[eq + 1] === '"', `${where}: a label without ="…"`);
    const name = text.slice(i, eq);
    assert.match(name, LABEL_NAME, `${where}: a bad label name`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      assert.ok(j < text.length, `${where}: an unterminated label value`);
      const c = text[j]!;
      if (c === '"') break;
      if (c === '\\') {
        const next = text[j + 1];
        assert.ok(next === '\\' || next === '"' || next === 'n', `${where}: a bad escape`);
        value += next === 'n' ? '\n' : next;
        j += 2;
        continue;
      }
      value += c;
      j++;
    }
    assert.ok(!(name in labels), `${where}: label ${name} twice`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
  }
  return labels;
}

/** The family `name`, which must exist with `type`. */
export function family(families: Map<string, Family>, name: string, type: MetricType): Family {
  const f = families.get(name);
  assert.ok(f !== undefined, `no family ${name}`);
  assert.equal(f.type, type, `${name} is a ${f.type}`);
  return f;
}

/** The sum of the samples named `sample` whose labels include `match` (0 when none). */
export function total(
  families: Map<string, Family>,
  name: string,
  match: Readonly<Record<string, string>> = {},
  sample = name,
): number {
  const f = families.get(name);
  if (f === undefined) return 0;
  return f.samples
    .filter((s) => s.name === sample && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}
