// A small technician page on @syncd/client: IndexedDB replica, live sync,
// actions recorded offline with the device's position. Open it as
// technician.html?server=https://sync.example.com&tenant=acme
import { createSyncClient, openIndexedDb } from "../dist/index.js";

const params = new URLSearchParams(location.search);
const baseUrl = params.get("server") ?? location.origin;
const tenant = params.get("tenant") ?? "demo";

if ("serviceWorker" in navigator) await navigator.serviceWorker.register("./sw.js");

const storage = await openIndexedDb(`syncd-${tenant}`);
const sync = createSyncClient({ baseUrl, tenant, storage });
await sync.ready();
window.sync = sync; // for the browser test

const statusEl = document.getElementById("status");
const list = document.getElementById("tasks");
const form = document.getElementById("login");

function showStatus(s) {
  statusEl.dataset.online = String(s.online && s.live);
  statusEl.dataset.pending = String(s.pending);
  statusEl.textContent = `${s.live ? "live" : s.online ? "online" : "offline"} · ${s.pending} pending${s.lastError ? ` · ${s.lastError}` : ""}`;
}
sync.on("status", showStatus);
sync.on("rejected", ({ problem }) => alert(`Refused: ${problem.title ?? problem.code}`));
showStatus(sync.status());

function position() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(undefined);
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lng: p.coords.longitude, accuracy_m: p.coords.accuracy }),
      () => resolve(undefined),
      { timeout: 2000 },
    );
  });
}

const NEXT = { assigned: ["start"], in_progress: ["pause", "complete"], paused: ["resume"] };

sync.watch("task", undefined, (tasks) => {
  list.replaceChildren(
    ...tasks.map((task) => {
      const li = document.createElement("li");
      li.dataset.id = task.id;
      li.dataset.status = task.status;
      li.append(`${task.title} — `);
      const status = document.createElement("b");
      status.className = "status";
      status.textContent = task.status;
      li.append(status);
      for (const action of NEXT[task.status] ?? []) {
        const button = document.createElement("button");
        button.textContent = action;
        button.dataset.action = action;
        button.onclick = async () => sync.act(task.id, action, { geo: await position() });
        li.append(button);
      }
      return li;
    }),
  );
});

function go() {
  form.hidden = true;
  // A PWA pauses live sync while the device says it is offline; writes keep
  // going to the outbox (IndexedDB) and leave when the network is back.
  if (navigator.onLine) sync.start();
  addEventListener("offline", () => sync.stop());
  addEventListener("online", () => sync.start());
}

if (sync.status().signedIn) go();
else {
  form.hidden = false;
  form.onsubmit = async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    await sync.login(String(data.get("email")), String(data.get("password")));
    go();
  };
}
if ("serviceWorker" in navigator) await navigator.serviceWorker.ready;
document.body.dataset.ready = "true";
