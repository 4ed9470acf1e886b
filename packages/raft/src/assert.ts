/**
 * Assertions for programmer errors. They stay on in production (TigerStyle): a broken invariant in the
 * consensus core must stop the process, never be caught and carried on from.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
  readonly code = 'ASSERTION_FAILED';
}

export function assert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new AssertionError(typeof message === 'string' ? message : message());
  }
}

export function assertNever(value: never, what = 'value'): never {
  throw new AssertionError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
