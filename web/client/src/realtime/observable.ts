//! A value that tells its listeners when it changes, and a small typed event emitter.

export type Listener<T> = (value: T) => void;
export type Unsubscribe = () => void;

/** The current value plus a subscription to its changes (the connection state, unread counts). */
export class Observable<T> {
  #value: T;
  readonly #listeners = new Set<Listener<T>>();

  constructor(value: T) {
    this.#value = value;
  }

  get value(): T {
    return this.#value;
  }

  /** Calls `listener` with each new value, and at once with the current one unless `{ now: false }`. */
  subscribe(listener: Listener<T>, options: { now?: boolean } = {}): Unsubscribe {
    this.#listeners.add(listener);
    if (options.now !== false) listener(this.#value);
    return () => this.#listeners.delete(listener);
  }

  /** Sets the value; listeners hear of it only if it changed. */
  set(value: T): void {
    if (Object.is(value, this.#value)) return;
    this.#value = value;
    for (const l of [...this.#listeners]) l(value);
  }
}

export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): Unsubscribe {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const l of [...(this.#listeners.get(event) ?? [])]) (l as Listener<Events[K]>)(payload);
  }
}
