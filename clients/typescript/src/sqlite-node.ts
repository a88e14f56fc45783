/**
 * The node SQLite driver, on better-sqlite3 (version 12).
 *
 *     import { openNodeSqlite } from "@syncd/client/sqlite-node";
 *     const storage = await openNodeSqlite("./replica.db");
 *
 * WAL mode with `synchronous = FULL`: a committed batch survives a kill of the
 * process (and of the machine).
 */

import Database from "better-sqlite3";

import { SqliteStorage, type SqlValue, type SqliteDriver, type Statement } from "./sqlite.js";

export function betterSqliteDriver(path: string): SqliteDriver {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  const prepared = new Map<string, Database.Statement>();
  const prepare = (sql: string): Database.Statement => {
    let found = prepared.get(sql);
    if (!found) {
      found = db.prepare(sql);
      prepared.set(sql, found);
    }
    return found;
  };
  const run = db.transaction((statements: Statement[]) => {
    for (const [sql, params] of statements) prepare(sql).run(...params);
  });
  return {
    batch(statements: Statement[]) {
      try {
        // DDL cannot be prepared before its tables exist: run it plainly.
        if (statements.every(([sql]) => sql.startsWith("CREATE "))) {
          for (const [sql] of statements) db.exec(sql);
        } else {
          run(statements);
        }
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
    all(sql: string, params: SqlValue[] = []) {
      try {
        return Promise.resolve(prepare(sql).all(...params) as Record<string, unknown>[]);
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
    close() {
      db.close();
      return Promise.resolve();
    },
  };
}

/** A `SyncStorage` in the SQLite file at `path` (created if need be). */
export function openNodeSqlite(path: string): Promise<SqliteStorage> {
  return SqliteStorage.open(betterSqliteDriver(path));
}
