/**
 * `SyncStorage` on IndexedDB, for browsers and PWAs.
 *
 *     const storage = await openIndexedDb("syncd-replica");
 *
 * Four object stores (rows keyed by `[entity, id]`, meta, outbox with an
 * auto-increment `seq`, media); each `write(ops)` is one readwrite
 * transaction over all of them, so it commits whole or not at all.
 */

import type { MediaJob, OutboxEntry, Row, StorageOp, SyncStorage } from "./storage.js";

const STORES = ["rows", "meta", "outbox", "media"] as const;

function done(request: IDBRequest): Promise<unknown> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error("IndexedDB request failed"));
  });
}

interface StoredRow {
  entity: string;
  id: string;
  data: Row;
}

interface StoredEntry {
  seq?: number;
  change: OutboxEntry["change"];
  acked: boolean;
  ackVersion: number | null;
}

export class IndexedDbStorage implements SyncStorage {
  private constructor(private readonly db: IDBDatabase) {}

  static open(name: string, factory: IDBFactory = indexedDB): Promise<IndexedDbStorage> {
    return new Promise((resolve, reject) => {
      const request = factory.open(name, 1);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("rows", { keyPath: ["entity", "id"] });
        db.createObjectStore("meta");
        db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
        db.createObjectStore("media", { keyPath: "id" });
      };
      request.onsuccess = () => resolve(new IndexedDbStorage(request.result));
      request.onerror = () => reject(request.error ?? new Error("IndexedDB open failed"));
    });
  }

  write(ops: StorageOp[]): Promise<void> {
    if (!ops.length) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction([...STORES], "readwrite", { durability: "strict" });
      const rows = tx.objectStore("rows");
      const meta = tx.objectStore("meta");
      const outbox = tx.objectStore("outbox");
      const media = tx.objectStore("media");
      for (const op of ops) {
        switch (op.op) {
          case "putRow":
            rows.put({ entity: op.entity, id: op.id, data: op.data } satisfies StoredRow);
            break;
          case "deleteRow":
            rows.delete([op.entity, op.id]);
            break;
          case "clearRows":
            rows.clear();
            break;
          case "setMeta":
            if (op.value === null) meta.delete(op.key);
            else meta.put(op.value, op.key);
            break;
          case "appendOutbox":
            outbox.add({ change: op.change, acked: false, ackVersion: null } satisfies StoredEntry);
            break;
          case "ackOutbox": {
            const { seq, version } = op;
            const read = outbox.get(seq);
            read.onsuccess = () => {
              const entry = read.result as StoredEntry | undefined;
              if (entry) outbox.put({ ...entry, acked: true, ackVersion: version });
            };
            break;
          }
          case "dropOutbox":
            outbox.delete(op.seq);
            break;
          case "putMedia":
            media.put(op.job);
            break;
          case "dropMedia":
            media.delete(op.id);
            break;
        }
      }
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    });
  }

  private read<T>(store: (typeof STORES)[number], run: (s: IDBObjectStore) => IDBRequest): Promise<T> {
    const tx = this.db.transaction(store, "readonly");
    return done(run(tx.objectStore(store))) as Promise<T>;
  }

  async getMeta(key: string): Promise<string | null> {
    const value = await this.read<string | undefined>("meta", (s) => s.get(key));
    return value ?? null;
  }

  async getRow(entity: string, id: string): Promise<Row | null> {
    const found = await this.read<StoredRow | undefined>("rows", (s) => s.get([entity, id]));
    return found ? found.data : null;
  }

  async rows(entity: string): Promise<Row[]> {
    const range = IDBKeyRange.bound([entity], [entity, []]);
    const found = await this.read<StoredRow[]>("rows", (s) => s.getAll(range));
    return found.map((row) => row.data);
  }

  async outbox(): Promise<OutboxEntry[]> {
    const found = await this.read<Required<StoredEntry>[]>("outbox", (s) => s.getAll());
    return found.map((entry) => ({ seq: entry.seq, change: entry.change, acked: entry.acked, ackVersion: entry.ackVersion }));
  }

  media(): Promise<MediaJob[]> {
    return this.read<MediaJob[]>("media", (s) => s.getAll());
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}

export function openIndexedDb(name: string, factory?: IDBFactory): Promise<IndexedDbStorage> {
  return IndexedDbStorage.open(name, factory);
}
