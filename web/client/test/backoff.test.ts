import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff } from "../src/index.js";

test("delays grow exponentially to the cap, each a full-jitter draw below it", () => {
  const draws = [0.999, 0.5, 0, 0.999, 0.999, 0.999, 0.999, 0.999];
  let i = 0;
  const backoff = new Backoff({ baseMs: 100, maxMs: 1_000, random: () => draws[i++] as number });
  const ceilings: number[] = [];
  const delays: number[] = [];
  for (let n = 0; n < draws.length; n++) {
    ceilings.push(backoff.ceiling());
    delays.push(backoff.next());
  }
  assert.deepEqual(ceilings, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
  assert.deepEqual(delays, [99, 100, 0, 799, 999, 999, 999, 999]);
});

test("reset starts over from the base delay", () => {
  const backoff = new Backoff({ baseMs: 50, maxMs: 10_000, random: () => 0.5 });
  backoff.next();
  backoff.next();
  backoff.next();
  assert.equal(backoff.attempt, 3);
  backoff.reset();
  assert.equal(backoff.attempt, 0);
  assert.equal(backoff.next(), 25);
});

test("with the default random, every delay lies in [0, ceiling)", () => {
  const backoff = new Backoff({ baseMs: 10, maxMs: 640 });
  for (let n = 0; n < 200; n++) {
    const ceiling = backoff.ceiling();
    const delay = backoff.next();
    assert.ok(delay >= 0 && delay < ceiling, `${delay} within [0, ${ceiling})`);
  }
});
