/**
 * React bindings (`@syncd/client/react`; `react` is an optional peer).
 *
 *     const tasks = useRows(sync, "task", { status: "assigned" });
 *     const status = useSyncStatus(sync);   // { online, live, pending, lastError, ... }
 *
 * Both re-render on the client's events; `useRows` answers `undefined` until
 * the first read of the replica is done. Pass a stable filter (a constant or
 * `useMemo`): a new filter object starts a new watch.
 */

import { useEffect, useState } from "react";

import type { SyncClient } from "./client.js";
import type { SyncStatus } from "./engine.js";
import type { Row } from "./storage.js";
import type { Filter } from "./view.js";

export function useRows(client: SyncClient, entity: string, filter?: Filter): Row[] | undefined {
  const [rows, setRows] = useState<Row[] | undefined>(undefined);
  useEffect(() => client.watch(entity, filter, setRows), [client, entity, filter]);
  return rows;
}

export function useSyncStatus(client: SyncClient): SyncStatus {
  const [status, setStatus] = useState<SyncStatus>(() => client.status());
  useEffect(() => client.on("status", setStatus), [client]);
  return status;
}
