import { useEffect, useState } from 'preact/hooks';

/**
 * Calls `load` now and then `intervalMs` after each answer (never two at once, so a slow node is not piled on),
 * until the component unmounts. Keeps the last good value when a call fails, with the error beside it.
 */
export function usePoll<T>(
  load: () => Promise<T>,
  intervalMs: number,
  onError: (err: unknown) => void,
): { value: T | null; error: unknown; at: number | null } {
  const [state, setState] = useState<{ value: T | null; error: unknown; at: number | null }>({
    value: null,
    error: null,
    at: null,
  });
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = (): void => {
      load()
        .then((value) => {
          if (!stopped) setState({ value, error: null, at: Date.now() });
        })
        .catch((error: unknown) => {
          if (stopped) return;
          setState((s) => ({ ...s, error }));
          onError(error);
        })
        .finally(() => {
          if (!stopped) timer = setTimeout(tick, intervalMs);
        });
    };
    tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [intervalMs]);
  return state;
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return 'code' in err ? `${String(err.code)}: ${err.message}` : err.message;
  return String(err);
}
