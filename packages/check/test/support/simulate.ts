/**
 * Histories that are linearizable by construction: clients call a simulated register one call at a time;
 * each call takes effect at a random instant inside its [invoked, completed] interval (an unknown call: at a
 * random instant after its invocation — possibly after the client gave up on it — or never; a failed call:
 * never), and outputs are computed by applying the calls in the order of those instants.
 */
import type { CasInput, Operation, Outcome, Value } from '../../src/index.js';
import type { TestPrng } from './prng.js';

export interface SimulationOptions {
  readonly clients: number;
  readonly operations: number;
  readonly keys: readonly string[];
  /** Chance that a call's outcome is unknown, and that it is failed. */
  readonly unknownRate: number;
  readonly failedRate: number;
  /** Longest call duration; times are integers when `integerTimes`, so touching intervals occur. */
  readonly durationMsMax: number;
  readonly integerTimes: boolean;
  /** Small value domains make accidental coincidences (and so hard cases) likelier. */
  readonly valueDomain?: readonly Value[];
}

interface Draft {
  id: number;
  client: number;
  key: string;
  kind: 'read' | 'write' | 'cas';
  invokedAtMs: number;
  completedAtMs: number;
  outcome: Outcome;
  /** When it took effect; undefined: never. */
  effectAtMs: number | undefined;
  input: Value | CasInput | null;
  output?: Value | { ok: boolean } | null;
}

export function simulateLinearizable(prng: TestPrng, options: SimulationOptions): Operation[] {
  const drafts = drawCalls(prng, options);
  const state = new Map<string, Value>();
  const written: Value[] = [null];
  let nextValue = 1;
  const effective = drafts.filter((d) => d.effectAtMs !== undefined);
  effective.sort((a, b) => (a.effectAtMs as number) - (b.effectAtMs as number) || a.id - b.id);
  for (const d of effective) {
    const current = state.get(d.key) ?? null;
    const fresh = (): Value => (options.valueDomain === undefined ? nextValue++ : prng.pick(options.valueDomain));
    switch (d.kind) {
      case 'read':
        d.output = current;
        break;
      case 'write':
        d.input = fresh();
        written.push(d.input);
        state.set(d.key, d.input);
        d.output = null;
        break;
      case 'cas': {
        const expected = prng.chance(0.5) ? current : prng.pick(written);
        const input = { expected, value: fresh() };
        d.input = input;
        d.output = { ok: current === expected };
        if (current === expected) {
          written.push(input.value);
          state.set(d.key, input.value);
        }
        break;
      }
    }
  }
  return drafts.map((d) => finish(prng, d, options));
}

function drawCalls(prng: TestPrng, options: SimulationOptions): Draft[] {
  const clientFreeAtMs = Array.from({ length: options.clients }, () => 0);
  const drafts: Draft[] = [];
  const time = (t: number): number => (options.integerTimes ? Math.round(t) : t);
  for (let i = 0; i < options.operations; i++) {
    const client = prng.int(0, options.clients - 1);
    const invokedAtMs = time((clientFreeAtMs[client] ?? 0) + prng.float() * 3);
    const completedAtMs = time(invokedAtMs + 1 + prng.float() * (options.durationMsMax - 1));
    clientFreeAtMs[client] = completedAtMs;
    const roll = prng.float();
    const outcome: Outcome =
      roll < options.unknownRate ? 'unknown' : roll < options.unknownRate + options.failedRate ? 'failed' : 'ok';
    const span = completedAtMs - invokedAtMs;
    let effectAtMs: number | undefined = invokedAtMs + prng.float() * span;
    if (outcome === 'failed') effectAtMs = undefined;
    if (outcome === 'unknown') effectAtMs = prng.chance(0.5) ? undefined : invokedAtMs + prng.float() * span * 4;
    const kind = prng.pick(['read', 'read', 'write', 'write', 'cas'] as const);
    drafts.push({
      id: i,
      client,
      key: prng.pick(options.keys),
      kind,
      invokedAtMs,
      completedAtMs,
      outcome,
      effectAtMs,
      input: null,
    });
  }
  // Ids in invocation order, as the recorder hands them out.
  drafts.sort((a, b) => a.invokedAtMs - b.invokedAtMs || a.id - b.id);
  drafts.forEach((d, i) => (d.id = i));
  return drafts;
}

/** A call that never took effect still needs an input of the right shape. */
function finish(prng: TestPrng, d: Draft, options: SimulationOptions): Operation {
  const value = (): Value => (options.valueDomain === undefined ? -1 - d.id : prng.pick(options.valueDomain));
  const base = { id: d.id, client: d.client, key: d.key, invokedAtMs: d.invokedAtMs, completedAtMs: d.completedAtMs };
  const known = d.outcome === 'ok';
  switch (d.kind) {
    case 'read':
      return {
        ...base,
        outcome: d.outcome,
        kind: 'read',
        input: null,
        ...(known ? { output: d.output as Value } : {}),
      };
    case 'write': {
      const input = d.effectAtMs === undefined ? value() : (d.input as Value);
      return { ...base, outcome: d.outcome, kind: 'write', input, ...(known ? { output: null } : {}) };
    }
    case 'cas': {
      const input = d.effectAtMs === undefined ? { expected: value(), value: value() } : (d.input as CasInput);
      return {
        ...base,
        outcome: d.outcome,
        kind: 'cas',
        input,
        ...(known ? { output: d.output as { ok: boolean } } : {}),
      };
    }
  }
}
