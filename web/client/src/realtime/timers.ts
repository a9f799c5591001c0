//! Time for the real-time session: an injectable clock and the two timers it uses.

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** A one-shot timer that can be rescheduled: scheduling again replaces the pending run. */
export class Timeout {
  #handle: unknown = undefined;
  constructor(
    private readonly clock: Clock,
    private readonly fn: () => void,
  ) {}

  get pending(): boolean {
    return this.#handle !== undefined;
  }

  schedule(ms: number): void {
    this.cancel();
    this.#handle = this.clock.setTimeout(() => {
      this.#handle = undefined;
      this.fn();
    }, ms);
  }

  cancel(): void {
    if (this.#handle !== undefined) this.clock.clearTimeout(this.#handle);
    this.#handle = undefined;
  }
}

/** Runs `fn` every `ms` until stopped (a chain of timeouts, so a slow clock never piles runs up). */
export class Repeat {
  readonly #timeout: Timeout;
  #ms = 0;
  constructor(clock: Clock, fn: () => void) {
    this.#timeout = new Timeout(clock, () => {
      this.#timeout.schedule(this.#ms);
      fn();
    });
  }

  get running(): boolean {
    return this.#timeout.pending;
  }

  start(ms: number): void {
    this.#ms = ms;
    this.#timeout.schedule(ms);
  }

  stop(): void {
    this.#timeout.cancel();
  }
}
