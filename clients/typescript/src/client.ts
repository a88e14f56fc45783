/**
 * `createSyncClient`: the offline-first client an app talks to.
 *
 *     const sync = createSyncClient({ baseUrl, tenant: "acme", storage });
 *     await sync.login(email, password);
 *     await sync.sync();                                   // push, then pull
 *     const id = await sync.upsert("task_event", null, { task_id, kind: "note", payload: { text } });
 *     sync.watch("task", { status: "assigned" }, (tasks) => render(tasks));
 *     sync.start();                                         // live over /sync/ws
 *
 * Local writes return at once and work offline: each changes the view (the
 * replica with the outbox laid over it) and appends a stamped change to the
 * outbox in one storage write.
 */

import { Engine, type SyncEvents, type SyncStatus } from "./engine.js";
import { HybridClock } from "./hlc.js";
import { createClient, type Client } from "./api.js";
import { LiveSync, type WebSocketFactory } from "./live.js";
import { MediaQueue } from "./media.js";
import { openNotes, type NotesHandle } from "./notes.js";
import { Session } from "./session.js";
import type { Change, Row, SyncStorage } from "./storage.js";
import { type Filter, overlay, view } from "./view.js";

export interface SyncClientOptions {
  /** Where syncd answers, e.g. `https://sync.example.com`. */
  baseUrl: string;
  /** The tenant's slug (sent as `X-Tenant` to sign in). */
  tenant: string;
  storage: SyncStorage;
  /** The device's id (1-64 of `A-Z a-z 0-9 . _ -`); made once and stored if left out. */
  clientId?: string;
  fetch?: typeof fetch;
  /** The WebSocket class for `start()` (defaults to the global one; in node <22 pass `ws`). */
  WebSocket?: WebSocketFactory;
  /** The app schema the app is written for (docs/protocol.md, "Schema versions"); omitted: 1. */
  schema?: number;
  /** Changes per pushed batch (<= the server's MAX_BATCH_CHANGES). */
  batchSize?: number;
}

export interface Geo {
  lat: number;
  lng: number;
  accuracy_m?: number;
}

export interface ActOptions {
  geo?: Geo;
  /** When the technician acted (ISO 8601 with a zone); defaults to now. */
  clientTime?: string;
  /** Required for `reject`. */
  reason?: string;
  /** For `assign` / `unassign` (staff and admins). */
  userId?: string;
}

const CLIENT_ID = /^[A-Za-z0-9._-]{1,64}$/;

function uuid(): string {
  return globalThis.crypto.randomUUID();
}

export function createSyncClient(options: SyncClientOptions) {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const storage = options.storage;
  const fetchImpl = options.fetch ?? ((...args: Parameters<typeof fetch>) => globalThis.fetch(...args));
  let engine: Engine | null = null;
  let session: Session | null = null;
  let live: LiveSync | null = null;
  let media: MediaQueue | null = null;
  let mediaTimer: ReturnType<typeof setInterval> | null = null;

  const api: Client = createClient({
    baseUrl,
    tenant: options.tenant,
    fetch: fetchImpl,
    token: () => session?.auth?.accessToken,
  });

  const ready = (async () => {
    let clientId = options.clientId ?? (await storage.getMeta("client_id"));
    if (!clientId) clientId = `dev-${uuid().replaceAll("-", "").slice(0, 20)}`;
    if (!CLIENT_ID.test(clientId)) throw new Error(`client id ${JSON.stringify(clientId)} is not 1-64 of A-Z a-z 0-9 . _ -`);
    await storage.write([{ op: "setMeta", key: "client_id", value: clientId }]);
    const id = clientId;
    session = new Session(api, storage, () => id, () => engine?.setStatus({ lastError: "signed_out" }));
    await session.load();
    const clock = new HybridClock(id, () => Date.now(), await storage.getMeta("hlc"));
    engine = new Engine(api, storage, session, clock, id);
    if (options.batchSize) engine.batchSize = options.batchSize;
    if (options.schema) engine.schema = options.schema;
    media = new MediaQueue(engine, baseUrl, fetchImpl);
    await engine.refreshPending();
    return engine;
  })();

  async function change(partial: Omit<Change, "hlc" | "base_version">, baseOf: { entity: string; id: string } | null): Promise<void> {
    const e = await ready;
    let base = 0;
    if (baseOf) {
      const row = await storage.getRow(baseOf.entity, baseOf.id);
      base = Number(row?.version ?? 0);
    }
    const stamped = { ...partial, hlc: e.clock.now(), base_version: base } as Change;
    await e.enqueue(stamped);
    live?.poke();
  }

  function nowIso(): string {
    return new Date().toISOString();
  }

  const client = {
    /** The typed REST wrapper, signed in as this client's user. */
    api,
    ready: () => ready.then(() => undefined),
    get clientId(): string {
      if (!engine) throw new Error("await client.ready() first");
      return engine.clientId;
    },

    async login(email: string, password: string): Promise<void> {
      const e = await ready;
      await session!.login(email, password);
      e.setStatus({ online: true, lastError: null });
    },

    async logout(): Promise<void> {
      const e = await ready;
      client.stop();
      await session!.logout();
      e.setStatus({});
    },

    /** Create or change a row; `id` null makes a new UUID. Answers the id. */
    async upsert(entity: string, id: string | null, fields: Record<string, unknown>, extra?: { geo?: Geo; clientTime?: string }): Promise<string> {
      const rowId = id ?? uuid();
      const exists = id !== null && (await storage.getRow(entity, rowId)) !== null;
      await change(
        {
          entity,
          id: rowId,
          op: "upsert",
          fields,
          ...(extra?.geo ? { geo: extra.geo } : {}),
          ...(extra?.clientTime ? { client_time: extra.clientTime } : {}),
        } as Change,
        exists ? { entity, id: rowId } : null,
      );
      return rowId;
    },

    async remove(entity: string, id: string): Promise<void> {
      await change({ entity, id, op: "delete" } as Change, { entity, id });
    },

    async act(taskId: string, action: string, opts: ActOptions = {}): Promise<void> {
      await change(
        {
          entity: "task",
          id: taskId,
          op: "action",
          action,
          client_time: opts.clientTime ?? nowIso(),
          ...(opts.geo ? { geo: opts.geo } : {}),
          ...(opts.reason ? { reason: opts.reason } : {}),
          ...(opts.userId ? { fields: { user_id: opts.userId } } : {}),
        } as Change,
        { entity: "task", id: taskId },
      );
    },

    /** Add a timeline entry to a task; answers its id. */
    async addEvent(taskId: string, kind: string, payload: Record<string, unknown> = {}, opts: { geo?: Geo; clientTime?: string } = {}): Promise<string> {
      const fields: Record<string, unknown> = { task_id: taskId, kind, payload, client_time: opts.clientTime ?? nowIso() };
      if (opts.geo) Object.assign(fields, { lat: opts.geo.lat, lng: opts.geo.lng, accuracy_m: opts.geo.accuracy_m ?? 0 });
      return client.upsert("task_event", null, fields);
    },

    /** Queue a photo (or PDF) for upload; it never holds back records. Answers the media id. */
    async addPhoto(ownerId: string, bytes: Uint8Array, contentType = "image/jpeg", ownerType: "task" | "purchase" | "receipt" = "task"): Promise<string> {
      await ready;
      const id = uuid();
      await media!.add({ id, ownerType, ownerId, contentType, bytes });
      if (live?.connected) void media!.pass().catch(() => undefined);
      return id;
    },

    /** Upload the photos that are due; answers how many completed. */
    async syncMedia(): Promise<number> {
      await ready;
      return media!.pass();
    },

    async get(entity: string, id: string): Promise<Row | null> {
      await ready;
      const row = overlay(entity, id, await storage.getRow(entity, id), await storage.outbox());
      return row && !row.deleted_at ? row : null;
    },

    async all(entity: string, filter?: Filter): Promise<Row[]> {
      await ready;
      return view(entity, await storage.rows(entity), await storage.outbox(), filter);
    },

    /** Call `callback` with the matching rows now and after every change to `entity`. */
    watch(entity: string, filter: Filter | undefined, callback: (rows: Row[]) => void): () => void {
      let stopped = false;
      let version = 0;
      const refresh = () => {
        const mine = ++version;
        void client.all(entity, filter).then((rows) => {
          if (!stopped && mine === version) callback(rows);
        });
      };
      let off = () => undefined as unknown;
      void ready.then((e) => {
        if (stopped) return;
        off = e.events.on("change", ({ entities }) => {
          if (entities.includes(entity)) refresh();
        });
        refresh();
      });
      return () => {
        stopped = true;
        off();
      };
    },

    on<K extends keyof SyncEvents>(name: K, listener: (value: SyncEvents[K]) => void): () => void {
      let off: (() => void) | null = null;
      let stopped = false;
      void ready.then((e) => {
        if (!stopped) off = e.events.on(name, listener);
      });
      return () => {
        stopped = true;
        off?.();
      };
    },

    status(): SyncStatus {
      return engine ? { ...engine.state } : { online: false, syncing: false, pending: 0, mediaPending: 0, signedIn: false, live: false, lastError: null };
    },

    /** Push the outbox (idempotent batches), then pull from the stored cursor; then try due photos. */
    async sync(): Promise<{ pushed: number; pulled: number }> {
      const e = await ready;
      e.setStatus({ syncing: true });
      try {
        const pushed = await e.pushAll();
        const pulled = await e.pullAll();
        e.setStatus({ syncing: false, lastError: null });
        void media!.pass().catch(() => undefined);
        return { pushed, pulled };
      } catch (error) {
        e.setStatus({ syncing: false, lastError: error instanceof Error ? error.message : String(error) });
        throw error;
      }
    },

    /** Live sync over /sync/ws until `stop()`; photos upload on their own schedule meanwhile. */
    start(): void {
      void ready.then((e) => {
        const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketFactory }).WebSocket;
        if (!WebSocketImpl) throw new Error("no WebSocket: pass options.WebSocket (the `ws` package in node < 22)");
        live ??= new LiveSync(e, `${baseUrl.replace(/^http/, "ws")}/sync/ws`, WebSocketImpl, () => void media!.pass().catch(() => undefined));
        live.start();
        mediaTimer ??= setInterval(() => {
          if (live?.connected) void media!.pass().catch(() => undefined);
        }, 5_000);
      });
    },

    stop(): void {
      live?.stop();
      if (mediaTimer) clearInterval(mediaTimer);
      mediaTimer = null;
    },

    /** The live socket's diagnostics. */
    get live(): { connected: boolean; connects: number } {
      return { connected: live?.connected ?? false, connects: live?.connects ?? 0 };
    },

    /** A task's collaborative notes as a Y.Doc (needs the optional peers `yjs` and `y-websocket`). */
    async notes(taskId: string, opts: { WebSocket?: unknown } = {}): Promise<NotesHandle> {
      const e = await ready;
      return openNotes(e, baseUrl, taskId, opts.WebSocket ?? options.WebSocket, (c) => client.enqueueRaw(c));
    },

    /** Append a change as is (stamped and based by the caller's own rules). Advanced use. */
    async enqueueRaw(partial: Omit<Change, "hlc" | "base_version">): Promise<void> {
      await change(partial, null);
    },

    async close(): Promise<void> {
      client.stop();
      await ready.catch(() => undefined);
      await storage.close();
    },
  };
  return client;
}

export type SyncClient = ReturnType<typeof createSyncClient>;
