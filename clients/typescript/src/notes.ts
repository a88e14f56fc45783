/**
 * A task's collaborative notes: a `Y.Doc` bound to `/sync/yjs/task:<id>:notes`.
 *
 * `yjs` and `y-websocket` are optional peer dependencies, loaded only here.
 * The provider authenticates with `?token=` (refreshed before each reconnect).
 *
 * Offline edits take both paths docs/protocol.md offers: while the socket is
 * down, each local update is also queued in the outbox as a `ydoc` change
 * (so it survives an app restart and goes out with the next push), and the
 * provider sends what the server lacks when it reconnects. Receiving an
 * update twice is harmless (the CRDT merges it once).
 */

import type { Engine } from "./engine.js";
import type { Change } from "./storage.js";

export interface NotesHandle {
  /** The document; the text is `doc.getText("notes")`. */
  doc: import("yjs").Doc;
  provider: import("y-websocket").WebsocketProvider;
  /** Resolves once the document synced with the server. */
  synced: Promise<void>;
  close(): void;
}

function base64(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

export async function openNotes(
  engine: Engine,
  baseUrl: string,
  taskId: string,
  WebSocketImpl: unknown,
  enqueue: (change: Omit<Change, "hlc" | "base_version">) => Promise<void>,
): Promise<NotesHandle> {
  const Y = await import("yjs");
  const { WebsocketProvider } = await import("y-websocket");
  const doc = new Y.Doc();
  const token = await engine.session.accessToken();
  const provider = new WebsocketProvider(`${baseUrl.replace(/^http/, "ws")}/sync/yjs`, `task:${taskId}:notes`, doc, {
    params: { token },
    ...(WebSocketImpl ? { WebSocketPolyfill: WebSocketImpl as never } : {}),
  });
  provider.on("connection-close", () => {
    void engine.session.accessToken().then(
      (fresh) => {
        provider.params.token = fresh;
      },
      () => undefined,
    );
  });
  doc.on("update", (update: Uint8Array, origin: unknown) => {
    if (origin === provider || provider.wsconnected) return;
    void enqueue({ entity: "task", id: taskId, op: "ydoc", fields: { field: "notes" }, update: base64(update) } as Omit<Change, "hlc" | "base_version">);
  });
  const synced = new Promise<void>((resolve) => {
    if (provider.synced) resolve();
    else provider.once("sync", (isSynced: boolean) => isSynced && resolve());
  });
  return {
    doc,
    provider,
    synced,
    close() {
      provider.destroy();
      doc.destroy();
    },
  };
}
