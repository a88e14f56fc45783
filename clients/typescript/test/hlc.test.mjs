// The device clock's stamps exactly as docs/protocol.md pins them, and the back-off's bounds.
import assert from "node:assert/strict";
import { test } from "node:test";

import { HybridClock, backoffDelay, formatStamp, parseStamp } from "../dist/index.js";

test("stamps are '<13-digit ms>:<4-digit counter>:<node>' and sort as the clock runs", () => {
  let wall = 1764000000000;
  const clock = new HybridClock("dev-a", () => wall);
  assert.equal(clock.now(), "1764000000000:0000:dev-a");
  assert.equal(clock.now(), "1764000000000:0001:dev-a"); // the wall clock stands still: count up
  wall -= 5000; // the wall clock goes back: the stamps do not
  assert.equal(clock.now(), "1764000000000:0002:dev-a");
  clock.observe(parseStamp("1764000009000:0007:dev-b")); // a stamp from ahead
  assert.equal(clock.now(), "1764000009000:0009:dev-a");
  clock.observeTime("2025-11-24T08:00:00.000Z"); // an older updated_at changes nothing
  assert.equal(clock.now(), "1764000009000:0011:dev-a");
  assert.equal(formatStamp({ wallMs: 42, counter: 3, node: "n" }), "0000000000042:0003:n");
  assert.throws(() => parseStamp("1764000000000:0:dev-a"));
});

test("a counter past 9999 moves to the next millisecond; a restarted clock resumes after its last stamp", () => {
  const clock = new HybridClock("dev-a", () => 1764000000000, "1764000000000:9999:dev-a");
  assert.equal(clock.now(), "1764000000001:0000:dev-a");
  const stamps = Array.from({ length: 50 }, () => clock.now());
  assert.deepEqual([...stamps].sort(), stamps);
});

test("back-off with full jitter stays within 0.5 s doubling to 30 s", () => {
  assert.equal(backoffDelay(0, () => 0.999), 499);
  assert.equal(backoffDelay(3, () => 0.5), 2000);
  assert.equal(backoffDelay(30, () => 0.999), 29970);
  assert.equal(backoffDelay(5, () => 0), 0);
});
