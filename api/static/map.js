// The dispatcher's map: outage areas, open work orders coloured by state and time to breach,
// crews with their planned routes, switches and ties with their state, critical customers out,
// KPIs, and for dispatchers reassignment and the hold and release of switching steps. Everything comes from the same API any client uses; nothing from the internet.
"use strict";

const TEXT = {
  en: {
    title: "Outage dispatch", token: "API token", sign_in: "Sign in", now: "Now",
    open_orders: "Open work orders", crews_on_duty: "Crews on duty", critical_out: "Critical customers out",
    arrival_rate: "Arrivals within limit", unlocated: "Calls unlocated",
    closest: "Closest to breaching their limit", selected: "Selected work order", send_crew: "Send crew",
    reassign: "Reassign", legend: "Legend", st_new: "waiting for a crew", st_en_route: "crew on its way",
    st_on_site: "crew on site", st_breached: "arrival limit broken", st_soon: "limit within 15 min", crew: "crew",
    critical: "critical customer out", bad_token: "That token was not accepted.",
    role: "Signed in as", anonymous: "read-only (development mode)", customers: "customers", customer: "customer",
    status: "status", area: "area", due: "arrival due", late_by: "late by", in_min: "in", min: "min",
    crew_of: "crew", none: "none", confidence: "cause predicted with", reassigned: "Sent", failed: "Not done", live: "live", updated: "updated",
    statuses: { new: "waiting", assigned: "assigned", en_route: "on its way", on_site: "on site" },
    areas: { urban: "urban", rural: "rural", remote: "remote mountain" },
    switching: "Switching", hold: "Hold", release: "Release", move_up: "Earlier", moved: "Moved", held: "held", sw_open: "switch open (off normal)",
    sw_closed: "switch closed", tie_closed: "tie closed (feeding a neighbour)",
    phases: { isolate: "isolate", restore: "restore", normal: "back to normal" },
    step_status: { waiting: "waiting", due: "due", done: "done", dropped: "dropped" },
    actions: { open: "open", close: "close" }, remote: "remote", manual: "manual",
  },
  zh: {
    title: "停电抢修调度", token: "访问令牌", sign_in: "登录", now: "当前",
    open_orders: "未完成工单", crews_on_duty: "在岗班组", critical_out: "停电的重要客户",
    arrival_rate: "按时到达率", unlocated: "未定位来电",
    closest: "即将超出到达时限", selected: "选中工单", send_crew: "派遣班组",
    reassign: "改派", legend: "图例", st_new: "待派工", st_en_route: "班组在途",
    st_on_site: "班组到场", st_breached: "已超到达时限", st_soon: "15分钟内到时限", crew: "班组",
    critical: "停电的重要客户", bad_token: "令牌无效。",
    role: "当前角色", anonymous: "只读（开发模式）", customers: "户", customer: "户",
    status: "状态", area: "区域", due: "应到时间", late_by: "已超", in_min: "剩余", min: "分钟",
    crew_of: "班组", none: "无", confidence: "故障研判置信度", reassigned: "已派遣", failed: "未完成", live: "实时", updated: "更新于",
    statuses: { new: "待派工", assigned: "已派工", en_route: "在途", on_site: "到场" },
    areas: { urban: "城区", rural: "农村", remote: "偏远山区" },
    switching: "倒闸操作", hold: "暂停", release: "恢复", move_up: "提前", moved: "已调整", held: "已暂停", sw_open: "开关断开（非正常方式）",
    sw_closed: "开关合上", tie_closed: "联络开关合上（邻线转供）",
    phases: { isolate: "隔离", restore: "恢复供电", normal: "恢复正常方式" },
    step_status: { waiting: "等待", due: "待执行", done: "已执行", dropped: "取消" },
    actions: { open: "拉开", close: "合上" }, remote: "遥控", manual: "现场",
  },
};
const AREAS = { urban: "#f4d6a0", rural: "#d8ebc4", remote: "#c9dbe8" };
const SOON_MIN = 15;  // an order this close to its arrival limit gets an amber ring
const STATUS_COLOUR = { new: "#d62728", assigned: "#ff7f0e", en_route: "#ff7f0e", on_site: "#1f77b4" };

let lang = localStorage.getItem("lang") || (navigator.language.startsWith("zh") ? "zh" : "en");
let token = sessionStorage.getItem("token") || "";
let me = null;
let map, outageLayer, orderLayer, crewLayer, routeLayer, criticalLayer, switchLayer;
let orders = new Map();
let crews = [];
let clock = 0;
let selected = null;
let refreshTimer = null;

const t = (key) => TEXT[lang][key] ?? key;
const customers = (n) => `${n} ${n === 1 ? t("customer") : t("customers")}`;
const $ = (id) => document.getElementById(id);

function headers(extra = {}) {
  return token ? { Authorization: `Bearer ${token}`, ...extra } : extra;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(body.error || response.statusText), { status: response.status, body });
  return { body, response };
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("lang").textContent = lang === "zh" ? "English" : "中文";
  if (me) showWho();
  if (orders.size) { renderPanel(); if (selected) selectOrder(selected); }
}

function showWho() {
  $("who").textContent = me.anonymous ? t("anonymous") : `${t("role")}: ${me.role}${me.crew_id ? " " + me.crew_id : ""}`;
}

async function signIn() {
  try {
    me = (await api("/v1/me")).body;
  } catch (err) {
    $("login").hidden = false;
    $("app").hidden = true;
    if (token) $("login-error").textContent = t("bad_token");
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  showWho();
  await start();
}

async function start() {
  map = L.map("map", { preferCanvas: false, zoomControl: true });
  // work orders are what a dispatcher clicks: their pane lies above the crews', so a crew on
  // site does not cover its order
  map.createPane("orders").style.zIndex = 450;
  const base = (await api("/v1/map/base")).body;
  const areas = L.geoJSON(base.areas, {
    style: (f) => ({ color: "#8893a0", weight: 1, fillColor: AREAS[f.properties.area_class] || "#ddd", fillOpacity: 0.5 }),
    interactive: false,
  });
  map.fitBounds(areas.getBounds());  // a view first: vector layers need one to draw
  areas.addTo(map);
  L.geoJSON(base.roads, { style: { color: "#9aa3ad", weight: 1 }, interactive: false }).addTo(map);
  base.depots.forEach((d) => L.circleMarker([d.lat, d.lon], { radius: 3, color: "#333", weight: 1, fillOpacity: 1,
    className: "depot-marker" }).bindTooltip(d.name).addTo(map));
  outageLayer = L.layerGroup().addTo(map);
  switchLayer = L.layerGroup().addTo(map);
  criticalLayer = L.layerGroup().addTo(map);
  routeLayer = L.layerGroup().addTo(map);
  orderLayer = L.layerGroup().addTo(map);
  crewLayer = L.layerGroup().addTo(map);
  await refresh();
  listen();
}

function minutesToBreach(order) {
  return Math.round((order.deadline_s - clock) / 60);
}

async function refresh() {
  const [orderList, crewList, kpis, critical, outages, switches] = await Promise.all([
    api("/v1/work-orders?open_only=true&limit=10000"), api("/v1/crews"), api("/v1/kpis"), api("/v1/map/critical"),
    api("/v1/map/outages"), api("/v1/map/switches"),
  ]);
  clock = kpis.body.clock_s ?? 0;
  orders = new Map(orderList.body.map((o) => [o.order_id, o]));
  crews = crewList.body.filter((c) => c.status !== "off");
  outageLayer.clearLayers();
  L.geoJSON(outages.body, { style: { color: "#7a1f1f", weight: 1, fillColor: "#d62728", fillOpacity: 0.25,
    className: "outage-area" }, interactive: false }).addTo(outageLayer);
  drawSwitches(switches.body);
  orderLayer.clearLayers();
  for (const o of orders.values()) {
    const left = o.arrived_s === null ? minutesToBreach(o) : Infinity;
    const late = left < 0;
    const ring = late ? "#5a0000" : left <= SOON_MIN ? "#e6a700" : "#fff";
    const marker = L.circleMarker([o.lat, o.lon], {
      pane: "orders", radius: 4 + Math.min(8, Math.sqrt(o.customers)), color: ring, weight: ring === "#fff" ? 1 : 3,
      fillColor: STATUS_COLOUR[o.status] || "#777", fillOpacity: 0.9,
      className: `order-marker status-${o.status}${late ? " late" : left <= SOON_MIN ? " soon" : ""}`,
    });
    marker.on("click", () => selectOrder(o.order_id));
    marker.bindTooltip(`${o.order_id} · ${customers(o.customers)}`);
    marker.addTo(orderLayer);
  }
  crewLayer.clearLayers();
  routeLayer.clearLayers();
  for (const c of crews) {
    L.circleMarker([c.lat, c.lon], { radius: 5, color: "#145214", weight: 1, fillColor: "#2ca02c", fillOpacity: 1,
      className: "crew-marker" }).bindTooltip(`${c.crew_id} (${c.status})`).addTo(crewLayer);
    const stops = c.route.map((id) => orders.get(id)).filter(Boolean).map((o) => [o.lat, o.lon]);
    if (stops.length) L.polyline([[c.lat, c.lon], ...stops], { color: "#2ca02c", weight: 1.5, opacity: 0.7,
      dashArray: "4 4", className: "route-line" }).addTo(routeLayer);
  }
  criticalLayer.clearLayers();
  const out = critical.body.filter((c) => c.out);
  out.forEach((c) => L.circleMarker([c.lat, c.lon], { radius: 4, color: "#4b2b73", weight: 1, fillColor: "#9467bd",
    fillOpacity: 1, className: "critical-marker" }).bindTooltip(c.customer_id ? `${c.customer_id} (${c.critical})` : `${c.count} × ${c.critical}`).addTo(criticalLayer));
  $("count-critical").textContent = out.reduce((n, c) => n + c.count, 0);
  $("kpi-arrival").textContent = kpis.body.arrival_within_limit_rate === null ? "–"
    : `${(100 * kpis.body.arrival_within_limit_rate).toFixed(1)} %`;
  $("kpi-unlocated").textContent = kpis.body.calls_unlocated;
  renderPanel();
  if (selected) selectOrder(selected);
  $("live").textContent = `${t("updated")} ${new Date().toLocaleTimeString()}`;
}

function drawSwitches(collection) {
  // a switch open off its normal state is red, a closed one grey; a tie closed to feed a
  // neighbour's section is a solid orange line, an open one a faint dashed line
  switchLayer.clearLayers();
  L.geoJSON(collection, {
    style: (f) => (f.geometry.type === "Point" ? {} : f.properties.state === "closed"  // points: pointToLayer's
      ? { color: "#ff7f0e", weight: 3, opacity: 0.9, className: "tie-line closed" }
      : { color: "#8893a0", weight: 1, opacity: 0.6, dashArray: "2 4", className: "tie-line open" }),
    pointToLayer: (f, latlng) => L.circleMarker(latlng, {
      radius: f.properties.off_normal ? 5 : 3, weight: 1, color: "#333", fillOpacity: 1,
      fillColor: f.properties.off_normal ? "#d62728" : "#bbbbbb",
      className: `switch-marker ${f.properties.state}${f.properties.off_normal ? " off-normal" : ""}`,
    }),
    onEachFeature: (f, layer) => layer.bindTooltip(`${f.properties.switch_id} · ${f.properties.state}` +
      ` · ${f.properties.remote ? t("remote") : t("manual")}`),
  }).addTo(switchLayer);
}

function renderPanel() {
  $("count-orders").textContent = orders.size;
  $("count-crews").textContent = crews.length;
  const waiting = [...orders.values()].filter((o) => o.arrived_s === null)
    .sort((a, b) => a.deadline_s - b.deadline_s).slice(0, 10);
  $("breach").replaceChildren(...waiting.map((o) => {
    const li = document.createElement("li");
    const m = minutesToBreach(o);
    li.textContent = `${o.order_id} · ${customers(o.customers)} · ` +
      (m < 0 ? `${t("late_by")} ${-m} ${t("min")}` : `${t("in_min")} ${m} ${t("min")}`);
    if (m < 0) li.className = "late";
    li.dataset.order = o.order_id;
    li.addEventListener("click", () => selectOrder(o.order_id));
    return li;
  }));
}

function selectOrder(orderId) {
  const o = orders.get(orderId);
  if (!o) { $("selected").hidden = true; selected = null; return; }
  selected = orderId;
  $("selected").hidden = false;
  const status = TEXT[lang].statuses[o.status] || o.status;
  $("order-detail").innerHTML = "";
  const lines = [
    `${o.order_id} · ${o.element_id}`, `${t("status")}: ${status} · ${t("area")}: ${TEXT[lang].areas[o.area] || o.area}`,
    `${customers(o.customers)} · ${t("crew_of")}: ${o.crew_id || t("none")}`,
    `${t("due")}: ${minutesToBreach(o)} ${t("min")}`,
    `${t("confidence")}: ${Math.round(100 * o.confidence)} %`,
  ];
  lines.forEach((text) => { const p = document.createElement("p"); p.textContent = text; $("order-detail").append(p); });
  renderSteps(o);
  const canSend = me && me.role === "dispatcher" && ["new", "assigned", "en_route"].includes(o.status);
  $("reassign").hidden = !canSend;
  if (canSend) {
    const options = crews.filter((c) => c.skills.includes(o.skill) && ["idle", "en_route"].includes(c.status)
      && c.crew_id !== o.crew_id);
    $("crew-select").replaceChildren(...options.map((c) => new Option(`${c.crew_id} (${c.status})`, c.crew_id)));
  }
  map.panTo([o.lat, o.lon]);
}

function renderSteps(o) {
  // the order's switching steps; a dispatcher holds or releases one not yet carried out, or has
  // it carried out before the open step listed above it (the server refuses an unsafe order)
  $("steps-title").hidden = !o.switching.length;
  const open = (s) => ["waiting", "due"].includes(s.status);
  $("steps").replaceChildren(...o.switching.map((s, k) => {
    const li = document.createElement("li");
    li.dataset.step = s.step_id;
    li.className = `step ${s.status}${s.held ? " held" : ""}`;
    li.textContent = `${s.step_id} · ${TEXT[lang].actions[s.action]} ${s.element_id} · ${TEXT[lang].phases[s.phase]}` +
      ` · ${s.remote ? t("remote") : t("manual")} · ${TEXT[lang].step_status[s.status]}` +
      (s.held ? ` (${t("held")})` : "") + (s.crew_id ? ` · ${t("crew_of")} ${s.crew_id}` : "");
    if (me && me.role === "dispatcher" && open(s)) {
      const hold = document.createElement("button");
      hold.type = "button";
      hold.className = "hold";
      hold.textContent = s.held ? t("release") : t("hold");
      hold.addEventListener("click", () => steerStep(s, s.held ? "release" : "hold",
        s.held ? {} : { reason: "held from the map" }));
      li.append(" ", hold);
      const above = o.switching.slice(0, k).reverse().find((p) => open(p) && (p.phase === "normal") === (s.phase === "normal"));
      if (above) {
        const up = document.createElement("button");
        up.type = "button";
        up.className = "move";
        up.textContent = t("move_up");
        up.addEventListener("click", () => steerStep(s, "move", { before: above.step_id }));
        li.append(" ", up);
      }
    }
    return li;
  }));
}

async function steerStep(step, what, body) {
  const label = { hold: "hold", release: "release", move: "moved" }[what];
  try {
    await api(`/v1/switching/${step.step_id}/${what}`, {
      method: "POST", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "If-Match": `"${step.version}"` },
    });
    $("reassign-result").textContent = `${t(label)}: ${step.step_id}`;
  } catch (err) {
    $("reassign-result").textContent = `${t("failed")}: ${err.message}`;
  }
  await refresh();
}

async function reassign(event) {
  event.preventDefault();
  const o = orders.get(selected);
  const crewId = $("crew-select").value;
  if (!o || !crewId) return;
  try {
    const { body } = await api(`/v1/work-orders/${o.order_id}/assignment`, {
      method: "POST", body: JSON.stringify({ crew_id: crewId }),
      headers: { "Content-Type": "application/json", "If-Match": `"${o.version}"` },
    });
    $("reassign-result").textContent = `${t("reassigned")}: ${body.crew_id} → ${body.order_id}`;
    orders.set(body.order_id, body);
  } catch (err) {
    $("reassign-result").textContent = `${t("failed")}: ${err.message}`;
  }
  await refresh();
}

async function listen() {
  // Server-sent events read through fetch, so the token travels in a header, not the URL.
  try {
    const response = await fetch("/v1/events/stream", { headers: headers() });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    $("live").textContent = t("live");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const message = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (message.includes("event: change")) scheduleRefresh();
      }
    }
  } catch (err) {
    // the connection dropped: try again shortly
  }
  setTimeout(listen, 3000);
}

function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => { refreshTimer = null; await refresh(); }, 1000);
}

$("lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("lang", lang); applyLanguage(); });
$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("token", token);
  signIn();
});
$("reassign").addEventListener("submit", reassign);
applyLanguage();
signIn();
