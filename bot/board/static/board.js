// The seller's board: plain JavaScript, no build step. Every sentence comes from the server,
// in the staff member's language; whatever a buyer typed is set with textContent, never as HTML.
// The page refreshes by polling (every POLL_SECONDS while it is visible): one short request
// that works through any proxy, with no connection held open per seller.
"use strict";
(function () {
  const POLL_SECONDS = 5;
  const tg = window.Telegram && window.Telegram.WebApp && window.Telegram.WebApp.initData
    ? window.Telegram.WebApp : null;
  const $ = (id) => document.getElementById(id);
  const state = {
    session: null, texts: {}, view: "list", current: null, pending: null,
    selected: new Map(), filters: { status: "", reason: "", shop: "", supplier: "", mine: false, q: "" },
    lastList: "", busy: false, lastClaims: "", claimPending: null,
  };

  function t(key) { return state.texts[key] || key; }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function notice(text, isError) {
    const box = $("notice");
    box.textContent = text || "";
    box.className = "notice" + (isError ? " error" : "");
    box.hidden = !text;
  }

  // ── talking to the server ───────────────────────────────────────────────────────────────
  async function call(method, path, body) {
    const headers = {};
    if (state.session) headers.Authorization = "Bearer " + state.session.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch("api/" + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      notice(t("offline"), true);
      throw e;
    }
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (response.status === 401 && state.session && path !== "session") {
      if (tg && await signIn({ init_data: tg.initData })) return call(method, path, body);
      sessionStorage.removeItem("board");
      notice(data.message || t("session"), true);
    }
    return { status: response.status, data };
  }

  async function signIn(credentials) {
    const { status, data } = await call("POST", "session", credentials);
    if (status !== 200) { notice(data.message || "⚠️ /board", true); return false; }  // words come from the server
    state.session = data;
    state.texts = data.texts;
    sessionStorage.setItem("board", JSON.stringify(data));
    return true;
  }

  // ── the page's frame ────────────────────────────────────────────────────────────────────
  function applyLanguage() {
    const s = state.session;
    document.documentElement.lang = s.language;
    document.documentElement.dir = s.dir;
    document.title = t("title");
    $("title").textContent = t("title");
    $("who").textContent = [s.name, s.role].filter(Boolean).join(" · ");
    $("search").placeholder = t("search");
    $("mine-label").textContent = t("mine");
    $("bulk-received").textContent = t("bulk_received");
    $("bulk-export").textContent = t("bulk_export");
    $("empty").textContent = t("empty");
    $("back").setAttribute("aria-label", t("back"));
    $("tab-cases").textContent = t("title");
    $("tab-claims").textContent = t("claims");
    for (const [id, key] of [["c-words-h", "words"], ["c-evidence-h", "evidence"], ["c-decision-h", "decision"],
      ["c-gaps-h", "supplier_gaps"], ["c-actions-h", "actions"], ["c-timeline-h", "timeline"],
      ["c-send", "send"], ["c-cancel", "cancel"]]) $(id).textContent = t(key);
    fillSelect("f-status", t("status"), s.statuses.map((x) => [x.code, x.label]));
    fillSelect("f-reason", t("reason"), s.reasons.map((x) => [x.code, x.label]));
    fillSelect("f-shop", t("shop"), s.shops.map((x) => [x.id, x.name]));
    $("f-shop").hidden = s.shops.length < 2;
  }
  function fillSelect(id, label, options) {
    const select = $(id);
    const keep = select.value;
    select.replaceChildren(el("option", { value: "" }, label + ": " + t("all")),
      ...options.map(([value, text]) => el("option", { value }, text)));
    select.value = options.some(([v]) => v === keep) ? keep : "";
  }

  function show(view) {
    state.view = view;
    $("list-view").hidden = view !== "list";
    $("case-view").hidden = view !== "case";
    $("claims-view").hidden = view !== "claims";
    $("tabs").hidden = view === "case";
    $("tab-cases").setAttribute("aria-selected", String(view === "list"));
    $("tab-claims").setAttribute("aria-selected", String(view === "claims"));
    $("back").hidden = view !== "case" || !!tg;
    if (tg) { if (view === "case") tg.BackButton.show(); else tg.BackButton.hide(); }
    window.scrollTo(0, 0);
  }

  // ── the list ────────────────────────────────────────────────────────────────────────────
  async function loadList() {
    const f = state.filters;
    const query = new URLSearchParams();
    for (const key of ["status", "reason", "shop", "supplier", "q"]) if (f[key]) query.set(key, f[key]);
    if (f.mine) query.set("mine", "1");
    const { status, data } = await call("GET", "cases?" + query.toString());
    if (status !== 200) return;
    const text = JSON.stringify(data);
    if (text === state.lastList) return;
    state.lastList = text;
    renderList(data);
  }

  function renderList(data) {
    fillSelect("f-supplier", t("supplier"), data.suppliers.map((s) => [s, s]));
    $("f-supplier").hidden = data.suppliers.length === 0;
    const counts = $("counts");
    counts.replaceChildren(...state.session.statuses.filter((s) => data.counts[s.code]).map((s) =>
      el("button", {
        type: "button", "aria-pressed": String(state.filters.status === s.code), "data-status": s.code,
        onclick: () => { state.filters.status = state.filters.status === s.code ? "" : s.code; $("f-status").value = state.filters.status; loadList(); },
      }, s.label + " · " + data.counts[s.code])));
    const known = new Set(data.cases.map((c) => c.number));
    for (const number of [...state.selected.keys()]) if (!known.has(number)) state.selected.delete(number);
    $("cases").replaceChildren(...data.cases.map((c) => {
      const box = el("input", { type: "checkbox", "aria-label": t("select") + " " + c.number, "data-number": c.number });
      box.checked = state.selected.has(c.number);
      box.addEventListener("click", (e) => e.stopPropagation());
      box.addEventListener("change", () => { if (box.checked) state.selected.set(c.number, c); else state.selected.delete(c.number); renderBulk(); });
      if (state.selected.has(c.number)) state.selected.set(c.number, c);
      return el("li", { class: c.mine ? "mine" : "", "data-number": c.number, onclick: () => openCase(c.number) },
        box,
        el("div", { class: "main" },
          el("div", { class: "top" }, el("span", {}, c.number), el("span", { class: "muted" }, c.due ? t("due") + " " + c.due : "")),
          el("div", { class: "sub" }, c.reason_label + " · " + c.status_label),
          el("div", { class: "sub", dir: "auto" }, [c.order, c.buyer].filter(Boolean).join(" · "))));
    }));
    $("empty").hidden = data.cases.length > 0;
    renderBulk();
  }

  function renderBulk() {
    const chosen = [...state.selected.values()];
    $("bulk").hidden = chosen.length === 0;
    $("bulk-received").hidden = !chosen.some((c) => c.bulk.includes("recv"));
  }

  async function bulkReceived() {
    const cases = [...state.selected.values()].filter((c) => c.bulk.includes("recv")).map((c) => ({ number: c.number, version: c.version }));
    const { status, data } = await call("POST", "bulk", { code: "recv", cases });
    if (status !== 200) { notice(data.message, true); return; }
    notice(data.results.map((r) => r.message).join("\n"), data.results.some((r) => !r.ok));
    state.selected.clear();
    state.lastList = "";
    await loadList();
  }

  async function bulkExport() {
    const cases = [...state.selected.keys()].map((number) => ({ number }));
    const { status, data } = await call("POST", "export", { cases });
    if (status !== 200) { notice(data.message, true); return; }
    download(data.url, data.filename);
  }

  function download(path, filename) {
    const url = new URL(path, location.href).href;
    if (tg && tg.downloadFile) tg.downloadFile({ url, file_name: filename || "claims.zip" });
    else { const a = el("a", { href: url, download: filename || "" }); document.body.append(a); a.click(); a.remove(); }
  }

  // ── supplier claims ─────────────────────────────────────────────────────────────────────
  async function loadClaims() {
    const { status, data } = await call("GET", "claims");
    if (status !== 200) { notice(data.message, true); return; }
    const text = JSON.stringify(data);
    if (text === state.lastClaims) return;
    state.lastClaims = text;
    renderClaims(data);
  }

  function renderClaims(data) {
    state.lastClaims = JSON.stringify(data);
    state.claimPending = null;
    $("claims-title").textContent = data.title;
    $("claims-title").hidden = data.suppliers.length === 0;
    $("claims-empty").textContent = data.empty;
    $("claims-empty").hidden = data.suppliers.length > 0;
    $("claims").replaceChildren(...data.suppliers.map((group) => el("section", { class: "card", "data-supplier": group.supplier },
      el("h3", { dir: "auto" }, group.name),
      group.batch ? el("button", { type: "button", class: "secondary", onclick: () => claimPack({ supplier: group.supplier }) }, "📦 " + group.batch) : null,
      el("ul", { class: "claims" }, ...group.claims.map((c) => claimItem(c, data.pack))))));
  }

  function claimItem(c, packLabel) {
    const form = el("form", { class: "input", hidden: true });
    const item = el("li", { "data-claim": String(c.id) },
      el("div", { class: "top" }, el("span", {}, c.icon + " " + c.case), el("span", { class: c.late ? "late" : "muted" }, (c.deadline_label || "") + (c.late ? " ⚠️" : ""))),
      el("div", { class: "sub" }, c.status_label + " · " + c.claimed),
      c.recovered ? el("div", { class: "sub" }, c.recovered) : null,
      el("div", { class: "sub", dir: "auto" }, c.supplier_order),
      ...c.warnings.map((w) => el("div", { class: w.startsWith("⚠️") ? "sub late" : "sub", dir: "auto" }, w)),
      el("div", { class: "moves" },
        ...c.moves.map((m) => el("button", { type: "button", class: "secondary", "data-move": m.code, onclick: () => chooseMove(c, m, form) }, m.label)),
        c.moves.length ? el("button", { type: "button", class: "secondary", onclick: () => claimPack({ claim: c.id }) }, "📦 " + packLabel) : null),
      form);
    return item;
  }

  function chooseMove(claim, move, form) {
    if (!move.input) { sendMove(claim, move, {}); return; }
    state.claimPending = { claim, move };
    const input = el("input", { autocomplete: "off", inputmode: "decimal", "aria-label": move.question });
    form.replaceChildren(el("label", {}, move.question), input,
      el("div", { class: "row" }, el("button", { type: "submit" }, t("send")),
        el("button", { type: "button", class: "secondary", onclick: () => { state.claimPending = null; form.hidden = true; } }, t("cancel"))));
    form.onsubmit = (e) => { e.preventDefault(); sendMove(claim, move, { amount: input.value }); };
    form.hidden = false;
    input.focus();
  }

  async function sendMove(claim, move, extra) {
    if (state.busy) return;
    state.busy = true;
    try {
      const body = Object.assign({ move: move.code, status: claim.status }, extra);
      const { status, data } = await call("POST", "claims/" + claim.id + "/move", body);
      if (status === 200) {
        notice(data.message);
        renderClaims(data);
        if (tg && tg.HapticFeedback) tg.HapticFeedback.notificationOccurred("success");
      } else if (status === 409 && data.suppliers) {
        notice(data.message, true);
        renderClaims(data);
      } else {
        notice(data.message, true);  // a mistake in the amount: the question stays open
      }
    } finally {
      state.busy = false;
    }
  }

  async function claimPack(what) {
    const { status, data } = await call("POST", "claims/pack", what);
    if (status !== 200) { notice(data.message, true); return; }
    download(data.url, data.filename);
  }

  // ── one case ────────────────────────────────────────────────────────────────────────────
  async function openCase(number) {
    const { status, data } = await call("GET", "cases/" + encodeURIComponent(number));
    if (status !== 200) { notice(data.message, true); return; }
    notice("");
    state.pending = null;
    renderCase(data);
    show("case");
  }

  function renderCase(c) {
    state.current = c;
    $("c-title").textContent = c.number + " · " + c.status_label;
    $("c-summary").replaceChildren(...c.summary.slice(1).map((line) => el("li", {}, line)));
    $("c-buyer").textContent = c.buyer_line;
    $("c-words-box").hidden = c.words.length === 0;
    $("c-words").replaceChildren(...c.words.map((w) => el("div", {},
      el("p", { dir: "auto" }, w.text),  // the buyer's script decides its direction
      w.translation ? el("p", { class: "translation", dir: "auto" }, t("translation") + ": " + w.translation) : null)));
    $("c-words").className = "words";
    $("c-evidence-box").hidden = c.evidence.length === 0;
    $("c-evidence").replaceChildren(...c.evidence.map((item) => {
      if (!item.full) return el("span", { title: t("not_stored") }, t("not_stored"));
      if (item.kind === "video") return el("a", { href: item.full, target: "_blank", class: "video", "aria-label": t("evidence") + " " + item.n }, "▶");
      return el("a", { href: item.full, onclick: (e) => { e.preventDefault(); viewImage(item.full); } },
        el("img", { src: item.thumb, alt: t("evidence") + " " + item.n, loading: "lazy" }));
    }));
    $("c-decision-box").hidden = c.lines.length === 0 && c.supplier_gaps.length === 0;
    $("c-decision").replaceChildren(...c.lines.map((line) => el("li", {}, line)));
    $("c-gaps-h").hidden = c.supplier_gaps.length === 0;
    $("c-gaps").replaceChildren(...c.supplier_gaps.map((line) => el("li", {}, line)));
    const actions = $("c-actions");
    actions.replaceChildren(...c.actions.map((a) => el("button", {
      type: "button", class: a.code === "ok" || a.code === "part" ? "" : "secondary",
      "data-code": a.code, "data-resolution": a.resolution || null,
      onclick: () => choose(a),
    }, a.label + (a.asked && a.code === "part" ? " ★" : ""))));
    if (c.actions.length === 0) actions.replaceChildren(el("p", { class: "muted" }, t("no_actions")));
    $("c-timeline").replaceChildren(...c.timeline.map((e) => el("li", {},
      e.at + " · " + e.label + " (" + e.who + ")", e.note ? el("span", { class: "note", dir: "auto" }, e.note) : null)));
    if (!state.pending) $("c-input").hidden = true;
  }

  function viewImage(url) {
    $("viewer-img").src = url;
    $("viewer").hidden = false;
  }

  function choose(action) {
    if (!action.input) { send(action, {}); return; }
    state.pending = action;
    const question = action.question + (action.input === "optional" ? "" : "");
    $("c-question").textContent = question;
    const input = $("c-text");
    input.value = "";
    input.inputMode = action.input === "amount" ? "decimal" : "text";
    input.placeholder = action.input === "amount" && action.maximum ? "≤ " + action.maximum + " " + action.currency : "";
    $("c-input").hidden = false;
    input.focus();
  }

  async function send(action, extra) {
    if (state.busy) return;
    state.busy = true;
    const c = state.current;
    const body = Object.assign({ code: action.code, version: c.version }, extra);
    if (action.resolution) body.resolution = action.resolution;
    try {
      const { status, data } = await call("POST", "cases/" + encodeURIComponent(c.number) + "/act", body);
      if (status === 200) {
        state.pending = null;
        renderCase(data.case);
        notice(t("done") + ": " + data.case.number + " · " + data.case.status_label);
        state.lastList = "";
        if (tg && tg.HapticFeedback) tg.HapticFeedback.notificationOccurred("success");
      } else if (status === 409) {
        state.pending = null;
        notice(data.message, true);
        if (data.case) renderCase(data.case);
      } else {
        notice(data.message, true);  // a mistake in what was typed: the question stays open
      }
    } finally {
      state.busy = false;
    }
  }

  // ── live enough: polling ────────────────────────────────────────────────────────────────
  async function poll() {
    if (document.hidden || !state.session || state.busy) return;
    try {
      if (state.view === "list") await loadList();
      else if (state.view === "claims") { if (!state.claimPending) await loadClaims(); }
      else if (state.current && !state.pending) {
        const { status, data } = await call("GET", "cases/" + encodeURIComponent(state.current.number));
        if (status === 200 && data.version !== state.current.version) renderCase(data);
      }
    } catch (e) { /* offline: said once, tried again at the next tick */ }
  }

  function wire() {
    $("search").addEventListener("input", () => { state.filters.q = $("search").value; clearTimeout(state.typing); state.typing = setTimeout(loadList, 250); });
    $("mine").addEventListener("change", () => { state.filters.mine = $("mine").checked; loadList(); });
    for (const [id, key] of [["f-status", "status"], ["f-reason", "reason"], ["f-shop", "shop"], ["f-supplier", "supplier"]])
      $(id).addEventListener("change", () => { state.filters[key] = $(id).value; loadList(); });
    $("bulk-received").addEventListener("click", bulkReceived);
    $("bulk-export").addEventListener("click", bulkExport);
    const back = () => { state.pending = null; notice(""); show("list"); state.lastList = ""; loadList(); };
    $("back").addEventListener("click", back);
    if (tg) tg.BackButton.onClick(back);
    $("c-cancel").addEventListener("click", () => { state.pending = null; $("c-input").hidden = true; });
    $("c-input").addEventListener("submit", (e) => {
      e.preventDefault();
      const action = state.pending;
      if (!action) return;
      const text = $("c-text").value;
      send(action, action.input === "amount" ? { amount: text } : { text });
    });
    $("viewer").addEventListener("click", () => { $("viewer").hidden = true; });
    $("tab-cases").addEventListener("click", () => { notice(""); show("list"); state.lastList = ""; loadList(); });
    $("tab-claims").addEventListener("click", () => { notice(""); show("claims"); state.lastClaims = ""; loadClaims(); });
  }

  async function start() {
    wire();
    const params = new URLSearchParams(location.search);
    let ok = false;
    if (tg) {
      tg.ready();
      tg.expand();
      ok = await signIn({ init_data: tg.initData });
    } else if (params.get("login")) {
      ok = await signIn({ login: params.get("login") });
      params.delete("login");  // a login link works once: it leaves the address bar
      history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
    } else if (sessionStorage.getItem("board")) {
      state.session = JSON.parse(sessionStorage.getItem("board"));
      state.texts = state.session.texts;
      ok = true;
    } else {
      await signIn({});  // no credentials: the server says, in the browser's language, how to open it
    }
    if (!ok) return;
    applyLanguage();
    show("list");
    await loadList();
    const wanted = (tg && tg.initDataUnsafe && tg.initDataUnsafe.start_param) || params.get("case");
    if (wanted) await openCase(wanted);
    setInterval(poll, POLL_SECONDS * 1000);
  }

  start();
})();
