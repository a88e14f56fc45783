/**
 * The SDK's public surface: typed REST calls (`./api.ts`) and the offline-first
 * sync client (`./client.ts`) with its storage, live sync, media and notes.
 */

export * from "./api.js";
export { createSyncClient, type SyncClient, type SyncClientOptions, type ActOptions, type Geo } from "./client.js";
export type { SyncEvents, SyncStatus, ChangeResult, PushAnswer, PulledChange } from "./engine.js";
export { SyncError, OfflineError, SignedOutError } from "./errors.js";
export { HybridClock, formatStamp, parseStamp, type Stamp } from "./hlc.js";
export type { Change, Row, OutboxEntry, MediaJob, StorageOp, SyncStorage } from "./storage.js";
export { SqliteStorage, type SqliteDriver, type SqlValue, type Statement } from "./sqlite.js";
export { IndexedDbStorage, openIndexedDb } from "./indexeddb.js";
export { backoffDelay, type WebSocketFactory, type WebSocketLike } from "./live.js";
export type { NotesHandle } from "./notes.js";
export type { Filter } from "./view.js";
