/**
 * Assertions for programmer errors (a bad option, a send to a node that is not a member). They stay on in
 * production and are never caught: a transport used wrongly must stop the process, not limp on.
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
