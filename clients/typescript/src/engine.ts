/**
 * The sync core: the outbox pushed in idempotent batches, pull pages applied
 * with their cursor, and the answers settled, each in one storage write.
 *
 * A batch's id and its entries are stored before it is sent; until it is
 * answered the same batch is resent with the same id (the server answers the
 * first answer again). An `applied` entry stays in the outbox, marked acked,
 * until the stream delivers its version (or a pull that started after the
 * answer reaches its end), and is dropped in the same write as that page:
 * the view never shows the row older than the device's own write.
 */

import { Emitter } from "./events.js";
import { OfflineError, SignedOutError, SyncError, problemError } from "./errors.js";
import type { HybridClock } from "./hlc.js";
import type { Client, Problem, Schema } from "./api.js";
import { REQUEST_TIMEOUT_MS, type Session, isNetworkError } from "./session.js";
import type { Change, OutboxEntry, Row, StorageOp, SyncStorage } from "./storage.js";

export type PushAnswer = Schema<"PushAnswer">;
export type ChangeResult = Schema<"ChangeResult">;
export type PulledChange = Schema<"PulledChange">;

export interface SyncStatus {
  online: boolean;
  syncing: boolean;
  /** Local changes not answered yet by the server. */
  pending: number;
  /** Photos waiting to upload. */
  mediaPending: number;
  signedIn: boolean;
  live: boolean;
  lastError: string | null;
}

export interface SyncEvents extends Record<string, unknown> {
  conflict: { change: Change; result: ChangeResult };
  rejected: { change: Change; problem: Partial<Problem> };
  status: SyncStatus;
  /** Entities whose rows (or overlaid outbox changes) changed. */
  change: { entities: string[] };
  mediaRejected: { id: string; problem: Partial<Problem> };
}

interface StoredBatch {
  batchId: string;
  seqs: number[];
}

const PULL_LIMIT = 500;

export class Engine {
  readonly events = new Emitter<SyncEvents>();
  state: SyncStatus = { online: false, syncing: false, pending: 0, mediaPending: 0, signedIn: false, live: false, lastError: null };
  batchSize = 200;
  /** The app schema this app writes and reads (docs/protocol.md, "Schema versions"); null: 1, the oldest. */
  schema: number | null = null;
  /** Serializes every read-modify-write of the outbox and the cursor. */
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    readonly api: Client,
    readonly storage: SyncStorage,
    readonly session: Session,
    readonly clock: HybridClock,
    readonly clientId: string,
  ) {}

  exclusive<T>(run: () => Promise<T>): Promise<T> {
    const next = this.lock.then(run, run);
    this.lock = next.catch(() => undefined);
    return next;
  }

  setStatus(patch: Partial<SyncStatus>): void {
    this.state = { ...this.state, ...patch, signedIn: this.session.auth !== null };
    this.events.emit("status", { ...this.state });
  }

  async refreshPending(): Promise<void> {
    const entries = await this.storage.outbox();
    const media = await this.storage.media();
    this.setStatus({ pending: entries.filter((entry) => !entry.acked).length, mediaPending: media.length });
  }

  /** Append one local change to the outbox (with the clock, in one write). */
  enqueue(change: Change): Promise<void> {
    return this.exclusive(async () => {
      await this.storage.write([
        { op: "appendOutbox", change },
        { op: "setMeta", key: "hlc", value: this.clock.toString() },
      ]);
      this.events.emit("change", { entities: [change.entity] });
      await this.refreshPending();
    });
  }

  /** An authorized request: refresh before expiry, and once more on a 401. */
  async authed<T extends { ok: boolean; status: number; problem?: Partial<Problem> | undefined }>(
    call: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.session.accessToken();
      let answer: T;
      try {
        answer = await call(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
      } catch (error) {
        if (isNetworkError(error)) {
          this.setStatus({ online: false, lastError: "offline" });
          throw new OfflineError(error);
        }
        throw error;
      }
      this.setStatus({ online: true });
      if (answer.status === 401 && attempt === 0) {
        await this.session.refresh();
        continue;
      }
      if (answer.status === 401) throw new SignedOutError(answer.problem?.code ?? "token_invalid");
      return answer;
    }
  }

  // ---- push ------------------------------------------------------------

  /** The stored batch to (re)send, or a new one from the head of the outbox; null when nothing is pending. */
  async nextBatch(): Promise<{ batchId: string; entries: OutboxEntry[] } | null> {
    return this.exclusive(async () => {
      const entries = await this.storage.outbox();
      const stored = await this.storage.getMeta("batch");
      if (stored) {
        const batch = JSON.parse(stored) as StoredBatch;
        const chosen = batch.seqs.map((seq) => entries.find((entry) => entry.seq === seq));
        if (chosen.every((entry) => entry !== undefined)) return { batchId: batch.batchId, entries: chosen as OutboxEntry[] };
        // A stored batch always names live entries; if not, start a fresh one.
      }
      const pending = entries.filter((entry) => !entry.acked).slice(0, this.batchSize);
      if (!pending.length) {
        if (stored) await this.storage.write([{ op: "setMeta", key: "batch", value: null }]);
        return null;
      }
      const counter = Number((await this.storage.getMeta("batch_counter")) ?? "0") + 1;
      const random = Math.random().toString(36).slice(2, 10);
      const batch: StoredBatch = { batchId: `b${counter}-${random}`, seqs: pending.map((entry) => entry.seq) };
      await this.storage.write([
        { op: "setMeta", key: "batch", value: JSON.stringify(batch) },
        { op: "setMeta", key: "batch_counter", value: String(counter) },
      ]);
      return { batchId: batch.batchId, entries: pending };
    });
  }

  body(batchId: string, entries: OutboxEntry[]): Schema<"PushBody"> {
    return {
      client_id: this.clientId,
      batch_id: batchId,
      changes: entries.map((entry) => entry.change),
      ...(this.schema ? { schema: this.schema } : {}),
    } as unknown as Schema<"PushBody">;
  }

  /** Settle an answered batch in one write; emit its conflicts and rejections. */
  settle(batchId: string, entries: OutboxEntry[], answer: PushAnswer): Promise<void> {
    return this.exclusive(async () => {
      const stored = await this.storage.getMeta("batch");
      if (!stored || (JSON.parse(stored) as StoredBatch).batchId !== batchId) return; // settled already
      const seen = Number((await this.storage.getMeta("seen_version")) ?? "0");
      const ops: StorageOp[] = [];
      const touched = new Set<string>();
      const later: (() => void)[] = [];
      for (const [index, entry] of entries.entries()) {
        const result = answer.results[index];
        const change = entry.change;
        touched.add(change.entity);
        if (!result) {
          ops.push({ op: "dropOutbox", seq: entry.seq });
          continue;
        }
        if (result.status === "applied") {
          if (result.version === null || result.version === undefined || result.version <= seen) ops.push({ op: "dropOutbox", seq: entry.seq });
          else ops.push({ op: "ackOutbox", seq: entry.seq, version: result.version });
          continue;
        }
        ops.push({ op: "dropOutbox", seq: entry.seq });
        if ((result.status === "superseded" || result.status === "conflict") && result.current) {
          const current = result.current as Row;
          const held = await this.storage.getRow(change.entity, current.id ?? change.id);
          if (!held || Number(held.version ?? 0) <= Number(current.version ?? 0))
            ops.push({ op: "putRow", entity: change.entity, id: String(current.id ?? change.id), data: current });
        }
        if (result.status === "conflict") later.push(() => this.events.emit("conflict", { change, result }));
        if (result.status === "rejected")
          later.push(() => this.events.emit("rejected", { change, problem: (result.problem ?? {}) as Partial<Problem> }));
      }
      ops.push({ op: "setMeta", key: "batch", value: null });
      await this.storage.write(ops);
      for (const emit of later) emit();
      this.events.emit("change", { entities: [...touched] });
      await this.refreshPending();
    });
  }

  /** A batch refused as a whole: a client bug, or too large (split it). */
  async refuseBatch(status: number, problem: Partial<Problem> | undefined): Promise<never> {
    await this.exclusive(async () => {
      if (problem?.code === "batch_too_large" || problem?.code === "payload_too_large") this.batchSize = Math.max(1, Math.floor(this.batchSize / 2));
      await this.storage.write([{ op: "setMeta", key: "batch", value: null }]);
    });
    throw problemError(status, problem);
  }

  /** Push the whole outbox over HTTP, batch after batch. Answers how many changes were answered. */
  async pushAll(): Promise<number> {
    let answered = 0;
    for (;;) {
      const batch = await this.nextBatch();
      if (!batch) return answered;
      const answer = await this.authed((signal) =>
        this.api.request("post", "/sync/push", { body: this.body(batch.batchId, batch.entries), signal }),
      );
      if (!answer.ok) {
        if (answer.status === 413 || answer.status === 403 || answer.status === 422) await this.refuseBatch(answer.status, answer.problem);
        throw problemError(answer.status, answer.problem);
      }
      await this.settle(batch.batchId, batch.entries, answer.data);
      answered += batch.entries.length;
    }
  }

  // ---- pull ------------------------------------------------------------

  /**
   * Apply one page (pull or a `changes` frame) with its cursor in one write,
   * dropping the acked outbox entries it settles (and `settleAlso`, when the
   * page ends the stream of a pull that started after they were answered).
   */
  applyPage(changes: PulledChange[], cursor: string, settleAlso: ReadonlySet<number> = new Set()): Promise<void> {
    return this.exclusive(async () => {
      let seen = Number((await this.storage.getMeta("seen_version")) ?? "0");
      const ops: StorageOp[] = [];
      const touched = new Set<string>();
      for (const change of changes) {
        touched.add(change.entity);
        seen = Math.max(seen, change.version);
        if (change.op === "upsert") {
          ops.push({ op: "putRow", entity: change.entity, id: change.id, data: change.data as Row });
          this.clock.observeTime(change.data.updated_at);
        } else {
          ops.push({ op: "deleteRow", entity: change.entity, id: change.id });
        }
      }
      for (const entry of await this.storage.outbox()) {
        if (entry.acked && ((entry.ackVersion !== null && entry.ackVersion <= seen) || settleAlso.has(entry.seq))) {
          ops.push({ op: "dropOutbox", seq: entry.seq });
          touched.add(entry.change.entity);
        }
      }
      ops.push(
        { op: "setMeta", key: "cursor", value: cursor },
        { op: "setMeta", key: "seen_version", value: String(seen) },
        { op: "setMeta", key: "hlc", value: this.clock.toString() },
      );
      await this.storage.write(ops);
      if (touched.size) this.events.emit("change", { entities: [...touched] });
    });
  }

  async ackedSeqs(): Promise<Set<number>> {
    return new Set((await this.storage.outbox()).filter((entry) => entry.acked).map((entry) => entry.seq));
  }

  /** Start again from the snapshot (a cursor the server does not know). */
  resetCursor(): Promise<void> {
    return this.exclusive(() =>
      this.storage.write([{ op: "clearRows" }, { op: "setMeta", key: "cursor", value: null }, { op: "setMeta", key: "seen_version", value: null }]),
    );
  }

  /** Pull from the stored cursor until `has_more` is false. Answers how many changes arrived. */
  async pullAll(): Promise<number> {
    const settleAtEnd = await this.ackedSeqs();
    let received = 0;
    let resets = 0;
    for (;;) {
      const cursor = await this.storage.getMeta("cursor");
      const answer = await this.authed((signal) =>
        this.api.request("get", "/sync/pull", {
          query: { since: cursor ?? undefined, limit: PULL_LIMIT, client_id: this.clientId, ...(this.schema ? { schema: this.schema } : {}) },
          signal,
        } as never),
      );
      if (!answer.ok) {
        if (answer.problem?.code === "invalid_cursor" && resets++ === 0) {
          await this.resetCursor();
          continue;
        }
        throw problemError(answer.status, answer.problem);
      }
      const page = answer.data as Schema<"PullPage">;
      received += page.changes.length;
      await this.applyPage(page.changes, page.cursor, page.has_more ? new Set() : settleAtEnd);
      if (!page.has_more) return received;
    }
  }
}

export { SyncError };
