/**
 * The device's hybrid logical clock, exactly as docs/protocol.md pins it.
 *
 * A stamp is `"<unix ms, 13 digits>:<counter, 4 digits>:<node id>"`; the fixed
 * widths make text order equal clock order. The clock never goes backwards:
 * it takes the larger of the wall clock and every stamp seen, and counts up
 * while the wall clock stands still (a counter past 9999 moves to the next
 * millisecond). Its last stamp is persisted by the client, so a restart
 * cannot go back either.
 */

export const MAX_COUNTER = 9999;
const STAMP = /^(\d{13}):(\d{4}):([A-Za-z0-9._-]{1,64})$/;

export interface Stamp {
  wallMs: number;
  counter: number;
  node: string;
}

export function formatStamp(stamp: Stamp): string {
  return `${String(stamp.wallMs).padStart(13, "0")}:${String(stamp.counter).padStart(4, "0")}:${stamp.node}`;
}

export function parseStamp(text: string): Stamp {
  const match = STAMP.exec(text);
  if (!match) throw new Error(`${JSON.stringify(text)} is not '<13-digit ms>:<4-digit counter>:<node>'`);
  return { wallMs: Number(match[1]), counter: Number(match[2]), node: match[3] as string };
}

function successor(wallMs: number, counter: number, node: string): Stamp {
  return counter > MAX_COUNTER ? { wallMs: wallMs + 1, counter: 0, node } : { wallMs, counter, node };
}

export class HybridClock {
  last: Stamp;

  constructor(
    readonly node: string,
    private readonly nowMs: () => number = () => Date.now(),
    last?: string | null,
  ) {
    this.last = last ? { ...parseStamp(last), node } : { wallMs: 0, counter: 0, node };
  }

  /** A stamp for a local change, later than every stamp seen so far. */
  now(): string {
    const wall = this.nowMs();
    this.last =
      wall > this.last.wallMs
        ? { wallMs: wall, counter: 0, node: this.node }
        : successor(this.last.wallMs, this.last.counter + 1, this.node);
    return formatStamp(this.last);
  }

  /** Merge a received stamp (or a row's `updated_at`, as a stamp of that millisecond). */
  observe(remote: Stamp): void {
    const wall = this.nowMs();
    const top = Math.max(wall, this.last.wallMs, remote.wallMs);
    let counter: number;
    if (top === this.last.wallMs && top === remote.wallMs) counter = Math.max(this.last.counter, remote.counter) + 1;
    else if (top === this.last.wallMs) counter = this.last.counter + 1;
    else if (top === remote.wallMs) counter = remote.counter + 1;
    else counter = 0;
    this.last = successor(top, counter, this.node);
  }

  /** Observe an ISO 8601 datetime the server sent (`updated_at`). */
  observeTime(iso: unknown): void {
    if (typeof iso !== "string") return;
    const ms = Date.parse(iso);
    if (Number.isFinite(ms)) this.observe({ wallMs: ms, counter: 0, node: this.node });
  }

  toString(): string {
    return formatStamp(this.last);
  }
}
