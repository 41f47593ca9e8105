// The live call board: one EventSource on /uapi/phoneCalls/@me/@self/stream, a card per call,
// and the UAPI's own requests for the buttons. No framework; every text goes in as textContent.
"use strict";

const API = "/uapi";
const RETRY_MS = [1000, 2000, 5000, 10000];
const STATUS = { 0: "idle", 1: "off hook", 2: "trying", 3: "ringing", 4: "calling", 5: "talking" };

const state = { token: null, mine: new Set(), source: null, retries: 0, timer: null,
                calls: new Map(), stale: new Set(), unparkTo: new Map() };
const $ = (id) => document.getElementById(id);

function say(text, kind) {
  const el = $("message");
  el.textContent = text;
  el.dataset.state = kind;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.includes("-")) node.setAttribute(key, value);  // data-*, aria-*
    else node[key] = value;
  }
  node.append(...children.filter((c) => c !== null));
  return node;
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(API + path, { method, headers, cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (resp.status >= 400) {
    let message = `HTTP ${resp.status}`;
    try { message = (await resp.json()).error.message; } catch (_) { /* not JSON */ }
    const err = new Error(message);
    err.status = resp.status;
    throw err;
  }
  return resp.status === 204 ? null : resp.json();
}

// -- token ---------------------------------------------------------------------------------

function tokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) history.replaceState(null, "", location.pathname + location.search);
  return token;
}

function refused(message) {
  stop();
  state.token = null;
  say(`Token refused: ${message}`, "refused");
  $("login").hidden = false;
  $("signout").hidden = true;
}

async function start(token) {
  stop();
  state.token = token;
  say("Checking the token…", "connecting");
  try {
    const exts = await api("GET", "/extensions/@me");
    state.mine = new Set((exts ? exts.entry : []).map((e) => e.extension));
  } catch (err) {
    if (err.status === 401 || err.status === 400) return refused(err.message);
    return dropped(`Cannot reach the bridge (${err.message}).`);
  }
  $("login").hidden = true;
  $("signout").hidden = false;
  connect();
}

// -- the stream ----------------------------------------------------------------------------

function connect() {
  stop();
  const url = `${API}/phoneCalls/@me/@self/stream?accessRequestToken=${encodeURIComponent(state.token)}`;
  const source = state.source = new EventSource(url);
  say("Connecting…", "connecting");
  markStale();  // a fresh stream starts with a snapshot; what it does not list is gone
  source.addEventListener("call", (ev) => upsert(JSON.parse(ev.data)));
  source.addEventListener("ended", (ev) => remove(JSON.parse(ev.data).id));
  source.addEventListener("reset", markStale);
  source.addEventListener("ready", () => {
    for (const id of state.stale) remove(id);
    state.retries = 0;
    say("Live", "live");
    render();
  });
  source.addEventListener("overflow", () => say("The board fell behind; reloading…", "dropped"));
  source.onerror = () => (source.readyState === EventSource.CLOSED ? closed()
    : say("Connection lost; reconnecting…", "dropped"));
}

function stop() {
  if (state.source) state.source.close();
  state.source = null;
  clearTimeout(state.timer);
}

async function closed() {
  // EventSource hides the HTTP status: ask List (same auth and scope) why it was refused.
  stop();
  try {
    await api("GET", "/phoneCalls/@me/@self?count=1&fields=id");
  } catch (err) {
    if (err.status === 401) return refused(err.message);
    return dropped(`The stream is refused: ${err.message}`);
  }
  dropped("The stream dropped.");
}

function dropped(why) {
  const wait = RETRY_MS[Math.min(state.retries++, RETRY_MS.length - 1)];
  say(`${why} Reconnecting in ${wait / 1000} s…`, "dropped");
  state.timer = setTimeout(() => (state.token ? start(state.token) : null), wait);
}

// -- calls ---------------------------------------------------------------------------------

function markStale() {
  state.stale = new Set(state.calls.keys());
}

function upsert(call) {
  state.stale.delete(call.id);
  state.calls.set(call.id, call);
  render();
}

function remove(id) {
  state.stale.delete(id);
  if (state.calls.delete(id)) render();
}

function since(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
  const pad = (n) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600);
  return h ? `${h}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}` : `${Math.floor(s / 60)}:${pad(s % 60)}`;
}

function partyState(view) {
  if (view.parked) return ["parked", view.parked];
  if (view.onHold) return ["on hold", view.onHold];
  const gone = view.status === "0" && (view.answered || view.ringing);
  const status = gone ? "left" : STATUS[view.status] || "idle";
  if (status === "talking") return [status, view.answered];
  if (status === "ringing") return [status, view.ringing];
  return [status, null];
}

function myView(call) {
  const views = call.phoneCallView || [];
  return views.find((v) => state.mine.has(v.extension)) || null;
}

function pathExtension(call) {
  const mine = myView(call);
  return mine ? mine.extension : call.extension;
}

function act(call, body, button) {
  const path = `/phoneCalls/@me/${encodeURIComponent(pathExtension(call))}/${call.id}`;
  button.disabled = true;
  const done = body === null ? api("DELETE", path) : api("PUT", path, body);
  done.then(() => say("Live", "live"))
    .catch((err) => say(`${button.textContent} failed: ${err.message}`, "error"))
    .finally(() => { button.disabled = false; });
}

function partyRow(call, view) {
  const [status, from] = partyState(view);
  const role = (call.phoneCallView || []).length && (view.source || []).includes(view.extension)
    ? "caller" : "called";
  const who = el("span", { className: "who", textContent: view.extension },
    el("small", { textContent: state.mine.has(view.extension) ? `${role} · you` : role }));
  const row = el("li", { className: "party", "data-extension": view.extension, "data-status": status },
    who,
    el("span", { className: "state", textContent: status }),
    el("span", { className: "for", "data-since": from || "", textContent: since(from) }),
    view.recording ? el("span", { className: "rec", textContent: "● recording" }) : null);
  if (view.parked) {
    const key = `${call.id}/${view.id}`;  // what was typed survives the next re-render
    const to = el("input", { type: "text", placeholder: "extension", "aria-label": "Unpark to",
                             value: state.unparkTo.get(key) || "" });
    to.oninput = () => state.unparkTo.set(key, to.value);
    const button = el("button", { type: "button", textContent: "Unpark", "data-action": "unpark" });
    button.onclick = () => act(call, { action: "UnPark", phoneCallViewId: view.id,
                                       sendCallTo: to.value.trim() }, button);
    row.append(el("span", { className: "unpark" }, to, button));
  }
  return row;
}

function card(call) {
  const views = call.phoneCallView || [];
  const mine = myView(call);
  const button = (label, action, body, extra = "") => {
    const b = el("button", { type: "button", textContent: label, className: extra, "data-action": action });
    b.onclick = () => act(call, body, b);
    return b;
  };
  const footer = el("footer", {}, button("Hang up", "hangup", null, "danger"));
  if (mine && mine.status !== "0" && call.answered && !views.some((v) => v.parked)) {
    footer.append(button("Park", "park", { action: "Park", phoneCallViewId: mine.id }));
    const held = views.some((v) => v.onHold);
    footer.append(held ? button("Resume", "offhold", { action: "OffHold", phoneCallViewId: mine.id })
      : button("Hold", "hold", { action: "OnHold", phoneCallViewId: mine.id }));
  }
  return el("article", { className: "card", "data-call-id": call.id },
    el("header", {}, el("span", { textContent: `Call ${call.id.slice(-6)}` }),
      el("span", { textContent: call.answered ? "answered" : "starting" })),
    el("ul", {}, ...views.map((v) => partyRow(call, v))),
    footer);
}

function render() {
  const board = $("board");
  const cards = [...state.calls.values()].sort((a, b) => a.published.localeCompare(b.published));
  board.replaceChildren(...cards.map(card));
  $("empty").hidden = cards.length > 0 || !state.source;
}

function tick() {
  for (const node of document.querySelectorAll(".for[data-since]")) {
    node.textContent = since(node.dataset.since);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("token").value.trim();
    $("token").value = "";
    if (token) start(token);
  });
  $("signout").addEventListener("click", () => {
    stop();
    state.token = null;
    state.calls.clear();
    render();
    $("login").hidden = false;
    $("signout").hidden = true;
    say("Give an access token to start.", "idle");
  });
  setInterval(tick, 1000);
  const token = tokenFromFragment();
  if (token) start(token);
});
