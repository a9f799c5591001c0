//! Lists: `await` one page, or `for await` every item across pages following `next`.
import type { Page } from "./types.js";

/**
 * A list request. `await list` (or `list.page()`) answers the first page; `for await (const x of
 * list)` yields every item, fetching the next page (`?cursor=<next>`) when one runs out;
 * `list.pages()` yields the pages themselves.
 */
export class PageRequest<T> implements PromiseLike<Page<T>>, AsyncIterable<T> {
  readonly #fetch: (cursor: string | undefined) => Promise<Page<T>>;
  readonly #cursor: string | undefined;
  #first: Promise<Page<T>> | undefined;

  constructor(fetch: (cursor: string | undefined) => Promise<Page<T>>, cursor?: string) {
    this.#fetch = fetch;
    this.#cursor = cursor;
  }

  /** The first page (fetched once, however often awaited). */
  page(): Promise<Page<T>> {
    this.#first ??= this.#fetch(this.#cursor);
    return this.#first;
  }

  then<R1 = Page<T>, R2 = never>(
    onfulfilled?: ((value: Page<T>) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.page().then(onfulfilled, onrejected);
  }

  /** Every page, from this request's cursor until `next` is null. */
  async *pages(): AsyncGenerator<Page<T>, void, undefined> {
    let page = await this.page();
    for (;;) {
      yield page;
      if (page.next === null || page.next === undefined) return;
      page = await this.#fetch(page.next);
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages()) yield* page.results;
  }

  /** Every item in one array (mind the size of the list). */
  async all(): Promise<T[]> {
    const out: T[] = [];
    for await (const item of this) out.push(item);
    return out;
  }
}
