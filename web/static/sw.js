// The scanner's service worker (served at /staff/sw.js, whose prelude sets VERSION and PRECACHE: the
// files the scanner page loads). It keeps them, and the scanner page itself, so that /staff/scan opens
// without a network; everything else goes to the network as usual.
/* global VERSION, PRECACHE */
"use strict";

const CACHE = "seoulrun-scanner-" + VERSION;
const PAGES = "seoulrun-scanner-pages";  // the scanner page, put there by the page (scanner.js)

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("seoulrun-scanner-") && k !== CACHE && k !== PAGES)
        .map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

function scannerPage(request) {
  return fetch(request).then((response) => {
    if (response.ok && !response.redirected) {
      const copy = response.clone();
      caches.open(PAGES).then((cache) => cache.put(request, copy));
    }
    return response;
  }).catch(() => caches.open(PAGES)
    .then((cache) => cache.match(request).then((hit) => hit || cache.match(request, { ignoreSearch: true })))
    .then((hit) => hit || Response.error()));
}

function asset(request) {
  return caches.match(request).then((hit) => hit || fetch(request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(CACHE).then((cache) => cache.put(request, copy));
    }
    return response;
  }));
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") { return; }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate" && url.pathname === "/staff/scan") {
    event.respondWith(scannerPage(request));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(asset(request));
  }
});
