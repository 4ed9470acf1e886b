/**
 * The sequential specification the checker holds histories to: one register per key, initially null (or a
 * value handed in). A read returns the current value; a write sets it; a cas sets it iff the current value
 * is `expected` and says whether it did. Values are JSON primitives, so `===` is the model's equality.
 *
 * A call whose outcome is not `ok` has no known output: `stepRegister` lets it return whatever the model
 * would, so an unknown write or cas always fits wherever the search puts it.
 */
import { assertNever } from './assert.js';
import type { Operation, Value } from './history.js';
import { Outcome } from './history.js';

/** The model refuses the call in this state: its recorded output is not what the register would return. */
export const ILLEGAL: unique symbol = Symbol('illegal');

/** The register's value after `op` runs on `state`, or ILLEGAL when `op`'s output contradicts `state`. */
export function stepRegister(state: Value, op: Operation): Value | typeof ILLEGAL {
  const known = op.outcome === Outcome.ok;
  switch (op.kind) {
    case 'read':
      return !known || op.output === state ? state : ILLEGAL;
    case 'write':
      return op.input;
    case 'cas': {
      const matches = state === op.input.expected;
      if (known && op.output?.ok !== matches) return ILLEGAL;
      return matches ? op.input.value : state;
    }
    default:
      return assertNever(op, 'operation');
  }
}
