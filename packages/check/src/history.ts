/**
 * The history recorder: every call a client makes on a per-key register, with its invocation and completion
 * time and what came of it. A drill's or the simulator's workload wraps each call in `invoke` and one of
 * `ok` / `fail` / `unknown`; the checker then decides whether some total order of the calls explains every
 * output (linearizability.ts).
 *
 * Outcomes, and what the checker makes of them:
 * - `ok`: completed with a known output; it took effect once, between invocation and completion.
 * - `failed`: definitely did not take effect (refused before being proposed, e.g. NOT_LEADER); dropped.
 * - `unknown`: timed out or the connection was lost; it may or may not have taken effect, at any time after
 *   its invocation. An operation still pending when the history is read counts as unknown too.
 *
 * Times are milliseconds from a monotonic clock (performance.now() unless one is handed in, e.g. the
 * simulator's clock). Two calls are ordered only when one completed strictly before the other was invoked.
 */
import { assert, assertNever } from './assert.js';
import { HistoryFormatError } from './errors.js';

/** A register value. JSON primitives only, so a history survives toJsonLines/fromJsonLines unchanged. */
export type Value = string | number | boolean | null;

export const OpKind = { read: 'read', write: 'write', cas: 'cas' } as const;
export type OpKind = (typeof OpKind)[keyof typeof OpKind];

export const Outcome = { ok: 'ok', failed: 'failed', unknown: 'unknown' } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

export type ClientId = string | number;

/** Compare-and-set: set the register to `value` iff it holds `expected`. */
export interface CasInput {
  readonly expected: Value;
  readonly value: Value;
}

export interface CasOutput {
  readonly ok: boolean;
}

/** Input and output of each kind. A read's output is the value read (null: never written). */
export interface OpTypes {
  read: { input: null; output: Value };
  write: { input: Value; output: null };
  cas: { input: CasInput; output: CasOutput };
}

interface OperationBase {
  /** Dense, in invocation order, from 0. */
  readonly id: number;
  readonly client: ClientId;
  readonly key: string;
  readonly invokedAtMs: number;
  /** When the client learnt the outcome; null only for a call still pending when the history was taken. */
  readonly completedAtMs: number | null;
  readonly outcome: Outcome;
  /** Why a call failed or is unknown (an error code, "timeout", "pending"). */
  readonly reason?: string;
}

/** `output` is present exactly when `outcome` is `ok`. */
export interface ReadOperation extends OperationBase {
  readonly kind: 'read';
  readonly input: null;
  readonly output?: Value;
}

export interface WriteOperation extends OperationBase {
  readonly kind: 'write';
  readonly input: Value;
  readonly output?: null;
}

export interface CasOperation extends OperationBase {
  readonly kind: 'cas';
  readonly input: CasInput;
  readonly output?: CasOutput;
}

export type Operation = ReadOperation | WriteOperation | CasOperation;

/** What `invoke` hands back: pass it to exactly one of ok / fail / unknown. */
export interface OpHandle<K extends OpKind = OpKind> {
  readonly id: number;
  readonly kind: K;
}

/** A write's ok carries no output. */
export type OkArgs<K extends OpKind> = K extends 'write' ? [output?: null] : [output: OpTypes[K]['output']];

/** The reason recorded for a call that was still pending when the history was taken. */
export const PENDING_REASON = 'pending';

interface Slot {
  readonly id: number;
  readonly client: ClientId;
  readonly key: string;
  readonly kind: OpKind;
  readonly input: Value | CasInput;
  readonly invokedAtMs: number;
  completion?: { atMs: number; outcome: Outcome; output?: Value | CasOutput; reason?: string };
}

export class HistoryRecorder {
  private readonly slots: Slot[] = [];
  private readonly clock: () => number;

  constructor(clock?: () => number) {
    this.clock = clock ?? (() => performance.now());
  }

  /** Calls recorded so far, pending or not. */
  get size(): number {
    return this.slots.length;
  }

  invoke<K extends OpKind>(client: ClientId, key: string, kind: K, input: OpTypes[K]['input']): OpHandle<K> {
    assertInput(kind, input);
    const id = this.slots.length;
    this.slots.push({ id, client, key, kind, input, invokedAtMs: this.now() });
    return { id, kind };
  }

  ok<K extends OpKind>(op: OpHandle<K>, ...args: OkArgs<K>): void {
    const output = op.kind === 'write' ? null : args[0];
    assertOutput(op.kind, output);
    this.complete(op, Outcome.ok, { output });
  }

  /** The call definitely did not take effect. */
  fail(op: OpHandle, reason: string): void {
    this.complete(op, Outcome.failed, { reason });
  }

  /** The call may or may not have taken effect (timeout, connection lost). */
  unknown(op: OpHandle, reason: string): void {
    this.complete(op, Outcome.unknown, { reason });
  }

  /** Every call in invocation order; a pending one is reported as unknown with completedAtMs null. */
  operations(): Operation[] {
    return this.slots.map(toOperation);
  }

  /** One JSON object per line, in invocation order, ending with a newline (empty for an empty history). */
  toJsonLines(): string {
    return this.operations()
      .map((op) => JSON.stringify(op) + '\n')
      .join('');
  }

  /** Reads back what toJsonLines wrote; further calls can be recorded on the result. Blank lines are skipped. */
  static fromJsonLines(text: string, clock?: () => number): HistoryRecorder {
    const recorder = new HistoryRecorder(clock);
    const lines = text.split('\n');
    for (const [index, line] of lines.entries()) {
      if (line.trim() === '') continue;
      const op = parseOperationLine(line, index + 1);
      if (op.id !== recorder.slots.length) {
        throw new HistoryFormatError(index + 1, `id ${op.id} out of sequence (expected ${recorder.slots.length})`);
      }
      recorder.slots.push(toSlot(op));
    }
    return recorder;
  }

  private complete(op: OpHandle, outcome: Outcome, detail: { output?: Value | CasOutput; reason?: string }): void {
    const slot = this.slots[op.id];
    assert(slot !== undefined && slot.kind === op.kind, () => `operation ${op.id} was not invoked here`);
    assert(slot.completion === undefined, () => `operation ${op.id} completed twice`);
    const atMs = this.now();
    assert(atMs >= slot.invokedAtMs, () => `clock went back: op ${op.id} completed before it was invoked`);
    slot.completion = { atMs, outcome, ...detail };
  }

  private now(): number {
    const t = this.clock();
    assert(Number.isFinite(t), () => `clock returned ${t}`);
    return t;
  }
}

function toOperation(slot: Slot): Operation {
  const c = slot.completion;
  const base = {
    id: slot.id,
    client: slot.client,
    key: slot.key,
    invokedAtMs: slot.invokedAtMs,
    completedAtMs: c === undefined ? null : c.atMs,
    outcome: c === undefined ? Outcome.unknown : c.outcome,
    ...(c === undefined ? { reason: PENDING_REASON } : c.reason === undefined ? {} : { reason: c.reason }),
  };
  const output = c?.outcome === Outcome.ok ? { output: c.output } : {};
  // The shapes were asserted on the way in (invoke, ok, fromJsonLines).
  return { ...base, kind: slot.kind, input: slot.input, ...output } as Operation;
}

function toSlot(op: Operation): Slot {
  const slot: Slot = {
    id: op.id,
    client: op.client,
    key: op.key,
    kind: op.kind,
    input: op.input,
    invokedAtMs: op.invokedAtMs,
  };
  if (op.completedAtMs !== null) {
    slot.completion = {
      atMs: op.completedAtMs,
      outcome: op.outcome,
      ...(op.output === undefined ? {} : { output: op.output }),
      ...(op.reason === undefined ? {} : { reason: op.reason }),
    };
  }
  return slot;
}

export function isValue(v: unknown): v is Value {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

function isCasInput(v: unknown): v is CasInput {
  return isRecord(v) && isValue(v['expected']) && isValue(v['value']);
}

function isCasOutput(v: unknown): v is CasOutput {
  return isRecord(v) && typeof v['ok'] === 'boolean';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function inputProblem(kind: OpKind, input: unknown): string | undefined {
  switch (kind) {
    case 'read':
      return input === null ? undefined : 'a read takes no input (null)';
    case 'write':
      return isValue(input) ? undefined : 'a write takes a JSON primitive';
    case 'cas':
      return isCasInput(input) ? undefined : 'a cas takes {expected, value}';
    default:
      return assertNever(kind, 'operation kind');
  }
}

function outputProblem(kind: OpKind, output: unknown): string | undefined {
  switch (kind) {
    case 'read':
      return isValue(output) ? undefined : 'a read returns a JSON primitive or null';
    case 'write':
      return output === null ? undefined : 'a write returns nothing';
    case 'cas':
      return isCasOutput(output) ? undefined : 'a cas returns {ok: boolean}';
    default:
      return assertNever(kind, 'operation kind');
  }
}

function assertInput(kind: OpKind, input: unknown): void {
  const problem = inputProblem(kind, input);
  assert(problem === undefined, () => `${problem}: ${JSON.stringify(input)}`);
}

function assertOutput(kind: OpKind, output: unknown): asserts output is Value | CasOutput {
  const problem = outputProblem(kind, output);
  assert(problem === undefined, () => `${problem}: ${JSON.stringify(output)}`);
}

const KINDS: readonly string[] = Object.values(OpKind);
const OUTCOMES: readonly string[] = Object.values(Outcome);

/** Validates one line field by field; anything off is a HistoryFormatError naming the line. */
function parseOperationLine(line: string, lineNo: number): Operation {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (cause) {
    throw new HistoryFormatError(lineNo, 'not JSON', { cause });
  }
  const fail = (detail: string): never => {
    throw new HistoryFormatError(lineNo, detail);
  };
  if (!isRecord(raw)) return fail('not an object');
  const { id, client, key, kind, input, output, invokedAtMs, completedAtMs, outcome, reason } = raw;
  if (!Number.isSafeInteger(id) || (id as number) < 0) fail('id must be a non-negative integer');
  if (typeof client !== 'string' && typeof client !== 'number') fail('client must be a string or a number');
  if (typeof key !== 'string') fail('key must be a string');
  if (typeof kind !== 'string' || !KINDS.includes(kind)) fail(`unknown kind ${JSON.stringify(kind)}`);
  if (typeof outcome !== 'string' || !OUTCOMES.includes(outcome)) fail(`unknown outcome ${JSON.stringify(outcome)}`);
  if (typeof invokedAtMs !== 'number' || !Number.isFinite(invokedAtMs)) fail('invokedAtMs must be a number');
  const completedOk =
    completedAtMs === null ||
    (typeof completedAtMs === 'number' && Number.isFinite(completedAtMs) && completedAtMs >= (invokedAtMs as number));
  if (!completedOk) fail('completedAtMs must be null or a number not before invokedAtMs');
  if (completedAtMs === null && outcome !== Outcome.unknown) fail('only an unknown call may lack completedAtMs');
  if (reason !== undefined && typeof reason !== 'string') fail('reason must be a string');
  const inProblem = inputProblem(kind as OpKind, input);
  if (inProblem !== undefined) fail(inProblem);
  if (outcome === Outcome.ok) {
    const outProblem = outputProblem(kind as OpKind, output);
    if (outProblem !== undefined) fail(outProblem);
  } else if (output !== undefined) {
    fail('only an ok call has an output');
  }
  return raw as unknown as Operation;
}
