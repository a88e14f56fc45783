/**
 * The storage driver interface: the local replica, the outbox, the media queue
 * and a few named values, written only in atomic groups of operations.
 *
 * `write(ops)` applies every operation in one transaction, so a pull page's
 * rows, its cursor and the outbox entries it settles land together or not at
 * all: a kill between any two steps loses and duplicates nothing. The
 * adapters are `SqliteStorage` (over a small `SqliteDriver`: better-sqlite3
 * in node, expo-sqlite or op-sqlite in React Native) and `IndexedDbStorage`.
 */

import type { components } from "./schema.js";

export type Change = Partial<components["schemas"]["Change"]> & {
  entity: string;
  id: string;
  op: "upsert" | "delete" | "action" | "ydoc";
  hlc: string;
  base_version: number;
};

/** A row as the server sends it in `data` (its columns). */
export type Row = Record<string, unknown> & { id: string };

export interface OutboxEntry {
  /** Ascending position in the outbox (assigned by the storage). */
  seq: number;
  change: Change;
  /** Answered `applied`; kept until the stream delivers `ackVersion`, so the view never flickers back. */
  acked: boolean;
  ackVersion: number | null;
}

export interface MediaJob {
  id: string;
  ownerType: "task" | "purchase" | "receipt";
  ownerId: string;
  contentType: string;
  bytes: Uint8Array;
  /** `queued`: not declared yet or declared and not uploaded; `uploaded`: PUT done, to complete. */
  state: "queued" | "uploaded";
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
}

export type StorageOp =
  | { op: "putRow"; entity: string; id: string; data: Row }
  | { op: "deleteRow"; entity: string; id: string }
  | { op: "clearRows" }
  | { op: "setMeta"; key: string; value: string | null }
  | { op: "appendOutbox"; change: Change }
  | { op: "ackOutbox"; seq: number; version: number | null }
  | { op: "dropOutbox"; seq: number }
  | { op: "putMedia"; job: MediaJob }
  | { op: "dropMedia"; id: string };

export interface SyncStorage {
  /** Apply every operation in one transaction, in order. */
  write(ops: StorageOp[]): Promise<void>;
  getMeta(key: string): Promise<string | null>;
  getRow(entity: string, id: string): Promise<Row | null>;
  rows(entity: string): Promise<Row[]>;
  /** The whole outbox, by ascending `seq`. */
  outbox(): Promise<OutboxEntry[]>;
  media(): Promise<MediaJob[]>;
  close(): Promise<void>;
}
