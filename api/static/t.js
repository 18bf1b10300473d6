/* trackhouse tracker: README "Tracker". At most 2,560 bytes gzipped */
(function (w, d) {
  var s = d.currentScript, n = navigator, L = location, H = history, T = w.trackhouse;
  if (!s || T && T.track && !T.q) return; // loaded twice
  var opt = (k) => s.getAttribute("data-" + k);
  var on = (k) => opt(k) != null && opt(k) != "false";
  var url = (opt("api") || new URL(s.src).origin).replace(/\/+$/, "") + "/api/events/track";
  var key = opt("write-key"), A = "trackhouse_attr", NB = "trackhouse_nobounce";
  var base = {}, q = T && T.q || [], view, acc, since, ref;
  ["team", "project"].forEach((k) => { if (opt(k + "-id")) base[k + "_id"] = opt(k + "-id"); });
  var strip = (opt("strip-params") || "").toLowerCase().split(/ *, */);
  var ok = (v, m) => !v || [...v].length <= (m || 128) && !/[\0-\x1f\x7f]/.test(v); // the API's text rules

  function local(k, v) {
    try { return v === undefined ? localStorage.getItem(k) : v ? localStorage.setItem(k, v) : localStorage.removeItem(k); } catch (e) {}
  }
  function tab(k, v) {
    try { return v ? sessionStorage.setItem(k, v) : sessionStorage.getItem(k); } catch (e) {}
  }
  function off() {
    return local("trackhouse_ignore") == "true" ||
      !on("allow-localhost") && /^(localhost|127(\.\d+){3}|\[::1\])$/.test(L.hostname) ||
      on("respect-dnt") && (n.doNotTrack == "1" || n.globalPrivacyControl);
  }
  // th_link / th_qr: kept 90 days for later events
  function attribution() {
    var p = new URLSearchParams(L.search), l = p.get(opt("link-param") || "th_link"), r = p.get(opt("qr-param") || "th_qr"), a;
    l = ok(l) && l; r = ok(r) && r;
    if (l || r) local(A, JSON.stringify({ l: l, q: r, t: Date.now() }));
    try { a = JSON.parse(local(A)); } catch (e) {}
    if (a && Date.now() - a.t < 7776e6 && ok(a.l) && ok(a.q)) return a;
    if (a) local(A, "");
  }
  // the URL as sent: no fragment unless data-hash, no secret-looking parameters ("?a=1&token=x" -> "?a=1")
  function scrub(q) {
    return q.replace(/([?&#])([^?&#=]*)=[^?&#]*/g, (m, c, k) => strip.includes(k = ("" + new URLSearchParams(k).keys().next().value).toLowerCase()) ||
      /^(.*(token|secret|passw(or)?d|pwd|sig(nature)?|api_?key|jwt|sess(ion)?_?id)|code|state|key|session|sid|auth|otp|ticket)$/.test(k) ? c == "&" ? "" : c : m)
      .replace(/([?#])&/g, "$1").replace(/[?#&]$/, "");
  }
  function clean(h) {
    var u = new URL(h);
    u.search = scrub(u.search);
    u.hash = on("hash") ? scrub(u.hash) : "";
    return u;
  }
  function page() { var u = clean(L.href); return u.pathname + u.hash; }
  function context() {
    var e = Object.assign({}, base), p = new URLSearchParams(L.search), a = attribution();
    ["source", "medium", "campaign", "term", "content"].forEach((k) => { k = "utm_" + k; if (p.get(k) && ok(p.get(k), 256)) e[k] = p.get(k); });
    if (a && a.l) e.link_id = a.l;
    if (a && a.q) { e.qr_code_id = a.q; e.is_qr_scan = true; }
    e.event_attributes = { page: page(), url: clean(L.href).href, title: d.title, hostname: L.hostname };
    e.is_bounce = !tab(NB);
    return e;
  }
  function send(e, beacon) {
    if (off()) return;
    var body = JSON.stringify(e), h = { "Content-Type": "text/plain" };
    try {
      if (beacon && !key && n.sendBeacon && n.sendBeacon(url, body)) return;
      if (key) h["X-Write-Key"] = key;
      fetch(url, { method: "POST", body: body, headers: h, keepalive: true, credentials: "omit" }).catch(() => {});
    } catch (x) {}
  }
  function visible() { return acc + (since ? Date.now() - since : 0); }
  // visible time, in parts: one event per hide
  function engage(beacon) {
    var ms = view && visible() - view.s;
    if (!(ms > 0)) return;
    view.s += ms;
    send(Object.assign({}, view.e, { event_type: "engagement", event_id: view.id + "-" + ++view.n, event_time: view.t, time_spent_sec: Math.round(ms / 100) / 10, is_bounce: !tab(NB) }), beacon);
  }
  function pageview(force) {
    if (!force && view && view.p == page()) return; // same path (replaceState, popstate)
    var c = +(tab("trackhouse_views") || 0) + 1;
    tab("trackhouse_views", "" + c);
    if (c > 1) tab(NB, "1"); // a 2nd page: no bounce
    engage(); // the page left (SPA)
    var e = context();
    e.referrer = view ? view.e.event_attributes.url : ref;
    view = { p: page(), id: Math.random().toString(36).slice(2) + Date.now().toString(36), t: new Date().toISOString(), e: e, s: 0, n: 0 };
    e.event_attributes.view_id = view.id;
    acc = 0; since = d.hidden ? 0 : Date.now();
    send(Object.assign({ event_type: "view", event_id: view.id }, e));
  }
  function track(type, f) {
    tab(NB, "1");
    var e = context();
    f = Object.assign({}, f);
    if (typeof f.event_attributes == "object") f.event_attributes = Object.assign(e.event_attributes, f.event_attributes);
    send(Object.assign(e, { referrer: view ? view.e.referrer : ref }, f, { event_type: "" + type }));
  }
  function hide(beacon) { acc = visible(); since = 0; engage(beacon); }

  ["pushState", "replaceState"].forEach((m) => {
    var o = H[m];
    H[m] = function () { var r = o.apply(this, arguments); pageview(); return r; };
  });
  w.addEventListener("popstate", () => pageview());
  if (on("hash")) w.addEventListener("hashchange", () => pageview());
  d.addEventListener("visibilitychange", () => { if (d.hidden) hide(); else since = since || Date.now(); });
  w.addEventListener("pagehide", () => hide(1));
  w.addEventListener("pageshow", (e) => { if (e.persisted) { view = 0; pageview(1); } }); // bfcache: a new view
  w.trackhouse = { track: track };
  ref = d.referrer && clean(d.referrer).href;
  pageview(1);
  q.forEach((a) => track.apply(null, a));
})(window, document);
