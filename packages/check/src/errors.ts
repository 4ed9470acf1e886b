/**
 * Typed errors for operating conditions, each with a stable `code`. The only one today is a history file
 * that cannot be read back: drills and the simulator write histories to disk and a report tool reads them.
 */
export type CheckErrorCode = 'HISTORY_FORMAT';

export class CheckError extends Error {
  override readonly name: string = 'CheckError';
  constructor(
    readonly code: CheckErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Line `line` (1-based) of a JSON-lines history is not a well-formed operation. */
export class HistoryFormatError extends CheckError {
  override readonly name = 'HistoryFormatError';
  constructor(
    readonly line: number,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super('HISTORY_FORMAT', `history line ${line}: ${detail}`, options);
  }
}
