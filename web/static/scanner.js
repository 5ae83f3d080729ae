// The door scanner (/staff/scan): codes from the camera (jsQR) or typed, checked by the server when it
// answers, else from the day's manifest: signatures checked here (@noble/ed25519), scans queued in
// IndexedDB and synced when the network returns, with what the sync decided per scan.
// Without JavaScript the typed-code form posts to the server, so this only makes the page quicker.
"use strict";

const root = document.getElementById("scanner");
const venueId = Number(root.dataset.venueId);
const MESSAGES = JSON.parse(root.dataset.messages);  // result -> [Korean, English], the API's words
const TEXTS = JSON.parse(root.dataset.texts);
const CSRF = (JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"]) || "";
const $ = (selector) => root.querySelector(selector);
const panel = $("#scan-result");

// --- storage: the manifest and the queue of scans made offline ---------------------------------------

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("seoulrun-scanner", 1);
    request.onupgradeneeded = () => {
      request.result.createObjectStore("manifests", { keyPath: "venue_id" });
      request.result.createObjectStore("queue", { keyPath: "id", autoIncrement: true });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function store(name, mode, work) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(name, mode);
    const request = work(transaction.objectStore(name));
    transaction.oncomplete = () => { db.close(); resolve(request ? request.result : undefined); };
    transaction.onerror = () => { db.close(); reject(transaction.error); };
  });
}

const queued = async () => (await store("queue", "readonly", (s) => s.getAll())).filter((s) => s.venue_id === venueId);

function deviceId() {
  let id = localStorage.getItem("seoulrun-scanner-device");
  if (!id) {
    id = "web-" + crypto.randomUUID();
    localStorage.setItem("seoulrun-scanner-device", id);
  }
  return id;
}

function isJson(response) {
  return (response.headers.get("content-type") || "").includes("application/json") && !response.redirected;
}

function fill(text, params) {
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

// --- the manifest --------------------------------------------------------------------------------

let manifest = null;
const seoulToday = () => new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Seoul" }).format(new Date());
const manifestOfToday = () => manifest !== null && manifest.date === seoulToday();

async function loadManifest() {
  try {
    const response = await fetch(`/staff/checkin/venues/${venueId}/manifest`, { headers: { Accept: "application/json" } });
    if (response.ok && isJson(response)) {
      manifest = await response.json();
      await store("manifests", "readwrite", (s) => s.put(manifest));
    }
  } catch (error) { /* offline: the stored one below */ }
  if (!manifest) { manifest = (await store("manifests", "readonly", (s) => s.get(venueId))) || null; }
  showState();
}

// --- checking a code without the server -----------------------------------------------------------

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(text) {
  const out = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const digit = BASE32.indexOf(ch);
    if (digit < 0) { return null; }
    value = ((value << 5) | digit) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return new Uint8Array(out);
}

function base64url(text) {
  const raw = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

let ed25519 = null;

function answer(result, booking) {
  return {
    ok: result === "checked_in",
    result,
    message: MESSAGES[result][0],
    message_en: MESSAGES[result][1],
    holder: booking ? booking.holder : null,
    party_size: booking ? booking.party_size : null,
  };
}

// The layout of checkin/tokens.py: "SR1:" + base-32 of version(1) key_id(2) booking_id(4) venue_id(4)
// qr_version(1) valid_until(4, minutes) and a 64-byte Ed25519 signature of those 16 bytes.
async function checkOffline(code) {
  const text = code.toUpperCase();
  const data = text.startsWith("SR1:") ? base32(text.slice(4)) : null;
  if (!data || data.length !== 80 || data[0] !== 1) { return answer("invalid"); }
  if (!manifestOfToday()) { return { ...answer("not_found"), note: TEXTS.manifest_missing }; }
  const body = data.slice(0, 16);
  const view = new DataView(body.buffer);
  const keyId = view.getUint16(1);
  const bookingId = view.getUint32(3);
  const codeVenue = view.getUint32(7);
  const qrVersion = view.getUint8(11);
  const validUntil = view.getUint32(12) * 60000;
  const key = manifest.keys.find((k) => k.key_id === keyId);
  if (!key) { return answer("invalid"); }
  ed25519 = ed25519 || await import(root.dataset.ed25519);
  let genuine = false;
  try { genuine = await ed25519.verifyAsync(data.slice(16), body, base64url(key.public_key)); } catch (error) { genuine = false; }
  if (!genuine) { return answer("invalid"); }
  if (codeVenue !== venueId) { return answer("wrong_venue"); }
  const now = Date.now();
  const booking = manifest.bookings.find((b) => b.id === bookingId);
  if (!booking) { return answer(now > validUntil ? "too_late" : "not_found"); }
  if (qrVersion !== booking.qr_version) { return answer("invalid"); }  // a code reissued since
  if (booking.status === "cancelled" || booking.status === "expired") { return answer("cancelled", booking); }
  const already = (await queued()).some((s) => s.booking_id === bookingId);
  if (booking.status === "checked_in" || booking.status === "checked_out" || already) {
    return answer("already_checked_in", booking);
  }
  if (booking.status === "no_show") { return answer("too_late", booking); }
  if (booking.status !== "confirmed") { return answer("invalid", booking); }
  if (now < Date.parse(booking.checkin_opens)) { return answer("too_early", booking); }
  if (now > Date.parse(booking.checkin_closes) || now > validUntil) { return answer("too_late", booking); }
  await store("queue", "readwrite", (s) => s.add({
    venue_id: venueId, booking_id: bookingId, scanned_at: new Date(now).toISOString(), payload: code, holder: booking.holder,
  }));
  return { ...answer("checked_in", booking), note: TEXTS.offline };
}

// --- one scan ----------------------------------------------------------------------------------------

async function check(raw) {
  const code = raw.replace(/\s+/g, "");
  if (!code) { return; }
  let result = null;
  if (navigator.onLine) {
    try {
      const response = await fetch("/staff/checkin/scan", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", "x-csrftoken": CSRF },
        body: JSON.stringify({ payload: code, venue_id: venueId, device_id: deviceId() }),
      });
      if (response.ok && isJson(response)) {
        result = await response.json();
      } else if (response.status < 500) {
        result = { ok: false, result: "error", message: TEXTS.error, message_en: "", note: `HTTP ${response.status}` };
      }
    } catch (error) { /* no network: the manifest decides */ }
  }
  if (!result) { result = await checkOffline(code); }
  show(result);
  showState();
  if (result.ok && result.note === undefined) { sync(); }
}

function show(result) {
  panel.hidden = false;
  panel.dataset.result = result.result;
  panel.classList.toggle("scan-result--ok", result.ok);
  panel.classList.toggle("scan-result--refused", !result.ok);
  $("[data-icon-ok]").hidden = !result.ok;
  $("[data-icon-refused]").hidden = result.ok;
  $("[data-word]").textContent = result.ok ? TEXTS.ok : TEXTS.refused;
  $("[data-reason-ko]").textContent = result.message || "";
  $("[data-reason-en]").textContent = result.message_en || "";
  const note = $("[data-note]");
  note.textContent = result.note || "";
  note.hidden = !result.note;
  $("[data-who]").hidden = !result.holder;
  $("[data-holder]").textContent = result.holder || "";
  $("[data-party]").textContent = result.party_size ? fill(TEXTS.party, { count: result.party_size }) : "";
  beep(result.ok);
}

// --- sound: two rising tones for yes, one low buzz for no --------------------------------------------

let audio = null;

function wakeAudio() {
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") { audio.resume(); }
  } catch (error) { audio = null; }
}

function beep(ok) {
  if (!audio) { return; }
  const tones = ok ? [[880, 0, 0.12], [1320, 0.16, 0.16]] : [[196, 0, 0.5]];
  for (const [frequency, at, length] of tones) {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.type = ok ? "sine" : "square";
    oscillator.frequency.value = frequency;
    gain.gain.value = 0.25;
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(audio.currentTime + at);
    oscillator.stop(audio.currentTime + at + length);
  }
}

// --- sync --------------------------------------------------------------------------------------------

let syncing = false;
const SYNC_BATCH = 500;

async function sync() {
  if (syncing || !navigator.onLine) { return; }
  syncing = true;
  let more = false;
  try {
    // A batch at most as large as the API takes (SyncRequest); the rest in the next round.
    const scans = (await queued()).slice(0, SYNC_BATCH);
    if (!scans.length) { return; }
    const response = await fetch("/staff/checkin/sync", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", "x-csrftoken": CSRF },
      body: JSON.stringify({
        venue_id: venueId,
        device_id: deviceId(),
        scans: scans.map((s) => ({ booking_id: s.booking_id, scanned_at: s.scanned_at, payload: s.payload })),
      }),
    });
    if (!response.ok || !isJson(response)) {
      $("[data-queue-state]").textContent = TEXTS.sync_failed;
      return;
    }
    const decided = await response.json();
    await store("queue", "readwrite", (s) => { scans.forEach((scan) => s.delete(scan.id)); return null; });
    report(decided.items, scans);
    await loadManifest();
    more = scans.length === SYNC_BATCH;
  } catch (error) {
    /* the network went again: the queue stays for the next time */
  } finally {
    syncing = false;
    showState();
  }
  if (more) { sync(); }
}

function report(items, scans) {
  const list = $("[data-sync-list]");
  list.replaceChildren();
  items.forEach((item) => {
    const scan = scans.find((s) => s.booking_id === item.booking_id);
    const li = document.createElement("li");
    li.dataset.booking = String(item.booking_id);
    li.dataset.result = item.result;
    const when = new Date(item.scanned_at).toLocaleTimeString(document.documentElement.lang, {
      hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "Asia/Seoul",
    });
    const badge = document.createElement("span");
    badge.className = "badge " + (item.result === "checked_in" ? "badge--ok" : "badge--warn");
    badge.textContent = TEXTS.sync[item.result] || item.result;
    li.append(`#${item.booking_id} ${scan ? scan.holder : ""} · ${when} `, badge);
    list.append(li);
  });
  $("[data-sync-report]").hidden = false;
}

async function showState() {
  $("[data-offline-panel]").hidden = false;
  $("[data-net-state]").textContent = navigator.onLine ? TEXTS.state_online : TEXTS.state_offline;
  $("[data-manifest-state]").textContent = manifestOfToday()
    ? fill(TEXTS.manifest_loaded, {
      count: manifest.bookings.length,
      time: new Date(manifest.generated_at).toLocaleTimeString(document.documentElement.lang, {
        hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "Asia/Seoul",
      }),
    })
    : TEXTS.manifest_missing;
  const waiting = (await queued()).length;
  $("[data-queue-state]").textContent = fill(TEXTS.queued, { count: waiting });
}

// --- the camera --------------------------------------------------------------------------------------

const video = $("[data-video]");
const toggle = $("[data-camera-toggle]");
const frame = document.createElement("canvas");
const drawing = frame.getContext("2d", { willReadFrequently: true });
let stream = null;
let lastCode = "";
let lastSeen = 0;
let busy = false;

function cameraState(text) { $("[data-camera-state]").textContent = text; }

async function startCamera() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (error) {
    cameraState(TEXTS.camera_failed);
    return;
  }
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  toggle.textContent = TEXTS.camera_off;
  toggle.setAttribute("aria-pressed", "true");
  cameraState(TEXTS.camera_looking);
  look();
}

function stopCamera() {
  if (stream) { stream.getTracks().forEach((track) => track.stop()); }
  stream = null;
  video.hidden = true;
  toggle.textContent = TEXTS.camera_on;
  toggle.setAttribute("aria-pressed", "false");
  cameraState("");
}

// A code in view is read once; the same code again only after it has been out of view for 3 seconds.
function look() {
  if (!stream) { return; }
  if (video.readyState >= 2 && video.videoWidth && !busy) {
    const width = Math.min(640, video.videoWidth);
    const height = Math.round(video.videoHeight * width / video.videoWidth);
    frame.width = width;
    frame.height = height;
    drawing.drawImage(video, 0, 0, width, height);
    const found = window.jsQR(drawing.getImageData(0, 0, width, height).data, width, height, {
      inversionAttempts: "dontInvert",
    });
    const now = Date.now();
    if (found && found.data) {
      if (found.data !== lastCode || now - lastSeen > 3000) {
        lastCode = found.data;
        busy = true;
        check(found.data).finally(() => { busy = false; });
      }
      lastSeen = now;
    }
  }
  setTimeout(look, 150);
}

// --- start -------------------------------------------------------------------------------------------

if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.jsQR) {
  $("[data-camera]").hidden = false;
  toggle.addEventListener("click", () => {
    wakeAudio();
    if (stream) { stopCamera(); } else { startCamera(); }
  });
}

const manual = $("[data-manual]");
manual.addEventListener("submit", (event) => {
  const field = manual.elements.payload;
  if (!field.value.trim()) { return; }  // the server's form explains what is missing
  event.preventDefault();
  wakeAudio();
  const code = field.value;
  field.value = "";
  check(code);
  field.focus();
});

window.addEventListener("online", () => { showState(); sync(); });
window.addEventListener("offline", showState);
setInterval(() => { if (navigator.onLine) { sync(); } }, 30000);
// Bookings made during the day (and walk-ins) reach the offline list too.
setInterval(() => { if (navigator.onLine) { loadManifest(); } }, 5 * 60000);

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/staff/sw.js", { scope: "/staff/" }).catch(() => {});
}
// The scanner page itself, for the service worker to open when there is no network.
if ("caches" in window) {
  caches.open("seoulrun-scanner-pages").then((cache) => cache.add(location.href)).catch(() => {});
}
loadManifest().then(sync);
