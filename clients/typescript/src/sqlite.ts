/**
 * `SyncStorage` on SQLite, behind a driver interface small enough for every
 * platform: better-sqlite3 in node (`./sqlite-node.js`), expo-sqlite or
 * op-sqlite in React Native (README: "React Native").
 *
 * A driver runs a list of statements in one transaction (`batch`) and answers
 * queries (`all`). That is all the storage needs: each `write(ops)` becomes one
 * batch, so rows, cursor and settled outbox entries commit together.
 */

import type { Change, MediaJob, OutboxEntry, Row, StorageOp, SyncStorage } from "./storage.js";

export type SqlValue = string | number | null | Uint8Array;
export type Statement = [sql: string, params: SqlValue[]];

export interface SqliteDriver {
  /** Run the statements in order inside one transaction (all or nothing). */
  batch(statements: Statement[]): Promise<void>;
  /** The rows of a query, as objects keyed by column name. */
  all(sql: string, params?: SqlValue[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export const SCHEMA: Statement[] = [
  ["CREATE TABLE IF NOT EXISTS syncd_rows (entity TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (entity, id))", []],
  ["CREATE TABLE IF NOT EXISTS syncd_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)", []],
  [
    "CREATE TABLE IF NOT EXISTS syncd_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, change TEXT NOT NULL, acked INTEGER NOT NULL DEFAULT 0, ack_version INTEGER)",
    [],
  ],
  [
    "CREATE TABLE IF NOT EXISTS syncd_media (id TEXT PRIMARY KEY, owner_type TEXT NOT NULL, owner_id TEXT NOT NULL, content_type TEXT NOT NULL, bytes BLOB NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL, last_error TEXT)",
    [],
  ],
];

function statement(op: StorageOp): Statement {
  switch (op.op) {
    case "putRow":
      return ["INSERT OR REPLACE INTO syncd_rows (entity, id, data) VALUES (?, ?, ?)", [op.entity, op.id, JSON.stringify(op.data)]];
    case "deleteRow":
      return ["DELETE FROM syncd_rows WHERE entity = ? AND id = ?", [op.entity, op.id]];
    case "clearRows":
      return ["DELETE FROM syncd_rows", []];
    case "setMeta":
      return op.value === null
        ? ["DELETE FROM syncd_meta WHERE key = ?", [op.key]]
        : ["INSERT OR REPLACE INTO syncd_meta (key, value) VALUES (?, ?)", [op.key, op.value]];
    case "appendOutbox":
      return ["INSERT INTO syncd_outbox (change) VALUES (?)", [JSON.stringify(op.change)]];
    case "ackOutbox":
      return ["UPDATE syncd_outbox SET acked = 1, ack_version = ? WHERE seq = ?", [op.version, op.seq]];
    case "dropOutbox":
      return ["DELETE FROM syncd_outbox WHERE seq = ?", [op.seq]];
    case "putMedia": {
      const job = op.job;
      return [
        "INSERT OR REPLACE INTO syncd_media (id, owner_type, owner_id, content_type, bytes, state, attempts, next_attempt_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [job.id, job.ownerType, job.ownerId, job.contentType, job.bytes, job.state, job.attempts, job.nextAttemptAt, job.lastError],
      ];
    }
    case "dropMedia":
      return ["DELETE FROM syncd_media WHERE id = ?", [op.id]];
  }
}

function bytesOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new Error("a media row's bytes are not a blob");
}

export class SqliteStorage implements SyncStorage {
  private constructor(private readonly driver: SqliteDriver) {}

  /** Create the tables if need be; answers the storage. */
  static async open(driver: SqliteDriver): Promise<SqliteStorage> {
    await driver.batch(SCHEMA);
    return new SqliteStorage(driver);
  }

  write(ops: StorageOp[]): Promise<void> {
    return ops.length ? this.driver.batch(ops.map(statement)) : Promise.resolve();
  }

  async getMeta(key: string): Promise<string | null> {
    const [row] = await this.driver.all("SELECT value FROM syncd_meta WHERE key = ?", [key]);
    return row ? String(row.value) : null;
  }

  async getRow(entity: string, id: string): Promise<Row | null> {
    const [row] = await this.driver.all("SELECT data FROM syncd_rows WHERE entity = ? AND id = ?", [entity, id]);
    return row ? (JSON.parse(String(row.data)) as Row) : null;
  }

  async rows(entity: string): Promise<Row[]> {
    const rows = await this.driver.all("SELECT data FROM syncd_rows WHERE entity = ? ORDER BY id", [entity]);
    return rows.map((row) => JSON.parse(String(row.data)) as Row);
  }

  async outbox(): Promise<OutboxEntry[]> {
    const rows = await this.driver.all("SELECT seq, change, acked, ack_version FROM syncd_outbox ORDER BY seq");
    return rows.map((row) => ({
      seq: Number(row.seq),
      change: JSON.parse(String(row.change)) as Change,
      acked: Number(row.acked) === 1,
      ackVersion: row.ack_version === null || row.ack_version === undefined ? null : Number(row.ack_version),
    }));
  }

  async media(): Promise<MediaJob[]> {
    const rows = await this.driver.all("SELECT * FROM syncd_media ORDER BY next_attempt_at, id");
    return rows.map((row) => ({
      id: String(row.id),
      ownerType: String(row.owner_type) as MediaJob["ownerType"],
      ownerId: String(row.owner_id),
      contentType: String(row.content_type),
      bytes: bytesOf(row.bytes),
      state: String(row.state) as MediaJob["state"],
      attempts: Number(row.attempts),
      nextAttemptAt: Number(row.next_attempt_at),
      lastError: row.last_error === null ? null : String(row.last_error),
    }));
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}
