// Shared helpers of the SDK's node tests: a real syncd (started by
// tests/e2e/clients/test_typescript_client.py, which passes SYNCD_URL and the seeded
// admin), clients over better-sqlite3 files, and a TCP link that can be cut.
import { mkdtempSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";

import { createSyncClient } from "../dist/index.js";
import { openNodeSqlite } from "../dist/sqlite-node.js";

export const BASE = process.env.SYNCD_URL ?? "http://127.0.0.1:8080";
export const TENANT = process.env.SYNCD_TENANT ?? "demo";
export const ADMIN_EMAIL = process.env.SYNCD_ADMIN_EMAIL ?? "admin@demo.example";
export const ADMIN_PASSWORD = process.env.SYNCD_ADMIN_PASSWORD ?? "";
export const PASSWORD = "technician-password-1";

const dir = mkdtempSync(path.join(tmpdir(), "syncd-sdk-"));
let files = 0;
export function dbFile() {
  return path.join(dir, `replica-${++files}.db`);
}

/** A client over the SQLite file `file` (a new one if left out), through `baseUrl`. */
export async function client(file = dbFile(), baseUrl = BASE, extra = {}) {
  const storage = await openNodeSqlite(file);
  const c = createSyncClient({ baseUrl, tenant: TENANT, storage, WebSocket, ...extra });
  await c.ready();
  c.file = file;
  return c;
}

export async function admin() {
  const c = await client();
  await c.login(ADMIN_EMAIL, ADMIN_PASSWORD);
  return c;
}

/** Invite a technician and accept the invitation; answers {id, email}. */
export async function technician(adminClient, name = "tech") {
  const email = `${name}-${Math.random().toString(36).slice(2, 8)}@demo.example`;
  const invited = await adminClient.api.request("post", "/users/invite", {
    body: { email, role: "technician", display_name: name },
  });
  if (!invited.ok) throw new Error(`invite: ${invited.status} ${JSON.stringify(invited.problem)}`);
  const accepted = await adminClient.api.request("post", "/auth/accept-invite", {
    body: { token: invited.data.invite_token, password: PASSWORD },
  });
  if (!accepted.ok) throw new Error(`accept: ${accepted.status} ${JSON.stringify(accepted.problem)}`);
  return { id: invited.data.user.id, email };
}

/** An admin-made task assigned to `userIds`; answers its id once pushed. */
export async function assignedTask(adminClient, userIds, title = "Replace pump seal") {
  const id = await adminClient.upsert("task", null, { title, priority: "normal" });
  await adminClient.sync();
  for (const userId of userIds) await adminClient.act(id, "assign", { userId });
  await adminClient.sync();
  return id;
}

/** A loopback TCP link to the server that can be cut (`offline = true`) and restored. */
export async function link(target = new URL(BASE)) {
  const sockets = new Set();
  const state = { offline: false, port: 0 };
  const server = net.createServer((inbound) => {
    if (state.offline) return inbound.destroy();
    const outbound = net.connect(Number(target.port), target.hostname);
    sockets.add(inbound).add(outbound);
    inbound.pipe(outbound).pipe(inbound);
    const end = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on("error", end).on("close", end);
    outbound.on("error", end).on("close", end);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.port = server.address().port;
  return {
    url: `http://127.0.0.1:${state.port}`,
    set offline(value) {
      state.offline = value;
      if (value) for (const socket of sockets) socket.destroy();
    },
    get offline() {
      return state.offline;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The rows of `entity` for a set of task ids, keyed by id, as plain JSON. */
export async function rowsOf(c, entity, taskIds) {
  const rows = await c.all(entity, (row) => taskIds.includes(entity === "task" ? row.id : row.task_id));
  return Object.fromEntries(rows.map((row) => [row.id, row]).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Wait (event-driven, bounded) until `check()` answers true. */
export async function until(check, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
