//! Reconnect delays: exponential growth with full jitter (a random delay between 0 and the cap).

export interface BackoffOptions {
  /** The cap of the first delay, ms (default 500). */
  baseMs?: number;
  /** The largest cap, ms (default 30 000). */
  maxMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** A number in [0, 1) (default Math.random); injectable for tests. */
  random?: () => number;
}

/**
 * `next()` answers the delay before the next attempt: uniform in [0, min(max, base * factor^n)).
 * Full jitter spreads the clients a server restart disconnected at once; `reset()` after a
 * connection proved good.
 */
export class Backoff {
  readonly #base: number;
  readonly #max: number;
  readonly #factor: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#base = options.baseMs ?? 500;
    this.#max = options.maxMs ?? 30_000;
    this.#factor = options.factor ?? 2;
    this.#random = options.random ?? Math.random;
  }

  /** Attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The cap of the next delay. */
  ceiling(): number {
    return Math.min(this.#max, this.#base * this.#factor ** this.#attempt);
  }

  next(): number {
    const delay = Math.floor(this.#random() * this.ceiling());
    this.#attempt += 1;
    return delay;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
