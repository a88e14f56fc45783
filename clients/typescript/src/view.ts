/**
 * What the app reads: the replica's rows (as the server last sent them) with
 * the outbox's changes laid over them, so a local write shows at once and a
 * rejected one (dropped from the outbox) undoes itself.
 */

import type { OutboxEntry, Row } from "./storage.js";

/** The status a task takes after each action (assign/unassign depend on the other assignees). */
const STATUS_AFTER: Record<string, string> = {
  start: "in_progress",
  pause: "paused",
  resume: "in_progress",
  complete: "completed",
  reject: "rejected",
};

export function overlay(entity: string, id: string, base: Row | null, entries: readonly OutboxEntry[]): Row | null {
  let row = base;
  for (const { change } of entries) {
    if (change.entity !== entity || change.id !== id) continue;
    if (change.op === "upsert") row = { ...(row ?? { id }), ...(change.fields ?? {}), id };
    else if (change.op === "delete") row = null;
    else if (change.op === "action" && row && change.action && STATUS_AFTER[change.action])
      row = { ...row, status: STATUS_AFTER[change.action] };
  }
  return row;
}

export type Filter = Record<string, unknown> | ((row: Row) => boolean);

export function matches(row: Row, filter: Filter | undefined): boolean {
  if (!filter) return true;
  if (typeof filter === "function") return filter(row);
  return Object.entries(filter).every(([key, value]) => row[key] === value);
}

export function view(entity: string, rows: readonly Row[], entries: readonly OutboxEntry[], filter?: Filter): Row[] {
  const byId = new Map(rows.map((row) => [row.id, row]));
  for (const { change } of entries) if (change.entity === entity && !byId.has(change.id)) byId.set(change.id, null as never);
  const out: Row[] = [];
  for (const [id, base] of byId) {
    const row = overlay(entity, id, base ?? null, entries);
    if (row && !row.deleted_at && matches(row, filter)) out.push(row);
  }
  return out;
}
