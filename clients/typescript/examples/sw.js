// The example's service worker: the page and the SDK's modules load from the
// cache when the device is offline (network first, cache as the fallback),
// so the technician can reload and keep working; the data is in IndexedDB.
const CACHE = "syncd-technician-v2";
const MODULES = ["api", "client", "engine", "errors", "events", "hlc", "index", "indexeddb", "live", "media", "notes", "session", "sqlite", "storage", "view"];
const FILES = ["./technician.html", "./technician.js", ...MODULES.map((name) => `../dist/${name}.js`)];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(event.request, copy));
        return response;
      })
      .catch(() => caches.match(event.request, { ignoreSearch: true }).then((hit) => hit ?? Response.error())),
  );
});
