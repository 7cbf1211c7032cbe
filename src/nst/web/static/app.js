// nst's page: plain JavaScript, no libraries, nothing loaded from the internet.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { schema: null, style: null, method: "auto", photo: null, painting: null, job: null, videoJob: null };

async function api(path, opts) {
  const r = await fetch(path, opts);
  let body = null;
  try { body = await r.json(); } catch (e) { body = { error: `${r.status} ${r.statusText}` }; }
  if (!r.ok) throw new Error((body && body.error) || `${r.status} ${r.statusText}`);
  return body;
}
function show(el, text) { el.textContent = text || ""; el.hidden = !text; }
function fmtTime(s) {
  if (s == null || !isFinite(s)) return "";
  s = Math.round(s);
  return s >= 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s` : `${s} s`;
}

// ---- tabs, and the URL that keeps a video job across reloads
function setTab(name) {
  document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("on", b.dataset.tab === name));
  document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("on", t.id === `tab-${name}`));
  const url = new URL(location.href);
  url.searchParams.set("tab", name);
  if (name !== "video") url.searchParams.delete("job");
  else if (state.videoJob) url.searchParams.set("job", state.videoJob);
  history.replaceState(null, "", url);
  if (name === "webcam") loadCamStyles();
}
document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => setTab(b.dataset.tab)));

// ---- file inputs with drag and drop
function dropZone(zone, input, onFile) {
  input.addEventListener("change", () => input.files[0] && onFile(input.files[0]));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault(); zone.classList.remove("over");
    if (e.dataTransfer.files[0]) onFile(e.dataTransfer.files[0]);
  });
}
dropZone($("photo-drop"), $("photo"), (f) => {
  state.photo = f;
  const url = URL.createObjectURL(f);
  $("photo-thumb").src = url; $("photo-thumb").hidden = false;
  $("photo-text").innerHTML = `<b>${escapeHtml(f.name)}</b> · ${(f.size / 1e6).toFixed(1)} MB · tap to change`;
  $("before").onload = () => {  // the box takes the photo's shape: photo and painting line up exactly
    const b = $("before"), box = $("compare");
    box.style.aspectRatio = `${b.naturalWidth} / ${b.naturalHeight}`;
    box.style.maxWidth = `calc(74vh * ${b.naturalWidth / b.naturalHeight})`;
  };
  $("before").src = url;
  $("compare").classList.add("has-photo"); $("compare").classList.remove("has-result");
  $("actions").hidden = true;
});
dropZone($("painting-drop"), $("painting"), (f) => {
  state.painting = f; selectStyle(null);
  $("painting-drop").classList.add("on");
  $("painting-text").textContent = `your painting: ${f.name}`;
});
function escapeHtml(s) { const d = document.createElement("div"); d.textContent = s; return d.innerHTML; }

// ---- the gallery and the form, drawn from the server's schema (the library's option metadata)
function selectStyle(name) {
  state.style = name;
  if (name) { state.painting = null; $("painting").value = ""; $("painting-drop").classList.remove("on");
    $("painting-text").textContent = "…or use a painting of your own"; }
  document.querySelectorAll("#gallery .tile").forEach((t) => t.classList.toggle("on", t.dataset.name === name));
  const s = state.schema.styles.find((x) => x.name === name);
  $("video-style").innerHTML = s ? `<img src="/styles/${s.name}.jpg" alt=""> <span><b>${escapeHtml(s.title)}</b>` +
    ` · ${escapeHtml(s.artist)}</span>` : (state.painting ? "your own painting" : "pick one in the Image tab");
  updateHint();
}
function methodInfo(name) { return state.schema.methods.find((m) => m.name === name); }
function resolved() {
  if (state.method !== "auto") return state.method;
  const s = state.schema.styles.find((x) => x.name === state.style);
  return s && s.net && !state.painting ? "net" : "adain";
}
function updateHint() {
  const m = resolved();
  $("method-hint").textContent = (state.method === "auto" ? `auto → ${m}: ` : "") + methodInfo(m).summary;
  const fields = methodInfo(m).fields.map((f) => f.name);
  $("strength-field").hidden = !fields.includes("strength");
  $("preserve_color").disabled = !fields.includes("preserve_color");
  drawMore(m);
}
function drawMore(m) {
  const box = $("more-fields"); box.innerHTML = "";
  const fields = methodInfo(m).fields.filter((f) => !state.schema.main.includes(f.name));
  $("more").hidden = fields.length === 0;
  for (const f of fields) {
    const label = document.createElement("label"); label.className = "field"; label.title = f.help;
    label.innerHTML = `<span class="label">${escapeHtml(f.label)}</span>`;
    let input;
    if (f.choices) {
      input = document.createElement("select");
      for (const c of f.choices) { const o = document.createElement("option"); o.value = c ?? ""; o.textContent = c ?? "—";
        input.appendChild(o); }
    } else if (f.kind === "bool") {
      input = document.createElement("select");
      for (const c of ["true", "false"]) { const o = document.createElement("option"); o.value = o.textContent = c;
        input.appendChild(o); }
    } else {
      input = document.createElement("input");
      input.type = f.kind === "int" || f.kind === "float" ? "number" : "text";
      if (f.kind === "float") input.step = "any";
      if (f.min != null && input.type === "number") input.min = f.min;
      if (f.max != null && input.type === "number") input.max = f.max;
    }
    input.name = f.name; input.dataset.default = f.default == null ? "" : String(f.default);
    input.value = input.dataset.default;
    label.appendChild(input); box.appendChild(label);
  }
}
function defaults() {
  state.method = "auto";
  document.querySelectorAll("#methods button").forEach((b) => b.classList.toggle("on", b.dataset.m === "auto"));
  $("strength").value = 1; $("strength-out").textContent = "1.00";
  $("size").value = String(state.schema.size.default); $("preserve_color").value = "";
  updateHint();
}
async function init() {
  state.schema = await api("/api/schema");
  const g = $("gallery");
  for (const s of state.schema.styles) {
    const b = document.createElement("button");
    b.type = "button"; b.className = "tile"; b.dataset.name = s.name; b.title = `${s.title}, ${s.artist} (${s.year})`;
    b.innerHTML = `<img loading="lazy" src="/styles/${s.name}.jpg" alt="${escapeHtml(s.title)}">` +
      (s.net ? `<span class="fast">fast</span>` : "") +
      `<span class="cap"><b>${escapeHtml(s.title)}</b><i>${escapeHtml(s.artist)}</i></span>`;
    b.addEventListener("click", () => selectStyle(s.name));
    g.appendChild(b);
  }
  const seg = $("methods");
  for (const m of state.schema.methods) {
    const b = document.createElement("button"); b.type = "button"; b.textContent = m.name; b.dataset.m = m.name;
    b.title = m.summary;
    b.addEventListener("click", () => { state.method = m.name;
      seg.querySelectorAll("button").forEach((x) => x.classList.toggle("on", x === b)); updateHint(); });
    seg.appendChild(b);
  }
  for (const v of [256, 384, 512, 768, 1024, 1536, 2048].filter((v) => v <= state.schema.size.max)) {
    const o = document.createElement("option"); o.value = v; o.textContent = `${v} px`; $("size").appendChild(o);
  }
  const L = state.schema.limits;
  $("video-limits").textContent = `Up to ${L.video_seconds} s, ${L.video_side} px and ${L.upload_mb} MB.`;
  defaults();
  selectStyle(state.schema.styles.find((s) => s.net)?.name || state.schema.styles[0].name);
  const url = new URL(location.href);
  if (url.searchParams.get("job")) { state.videoJob = url.searchParams.get("job"); setTab("video");
    followVideo(state.videoJob); }
  else if (url.searchParams.get("tab")) setTab(url.searchParams.get("tab"));
}
$("strength").addEventListener("input", () => { $("strength-out").textContent = Number($("strength").value).toFixed(2); });
$("defaults").addEventListener("click", defaults);

// ---- a job: send the form, follow its progress
function styleForm(fd) {
  if (state.painting) fd.append("painting", state.painting); else if (state.style) fd.append("style", state.style);
}
function optionsForm(fd) {
  const fields = methodInfo(resolved()).fields.map((f) => f.name);
  if (fields.includes("strength") && Number($("strength").value) !== 1) fd.append("strength", $("strength").value);
  if (fields.includes("preserve_color") && $("preserve_color").value) fd.append("preserve_color", $("preserve_color").value);
  document.querySelectorAll("#more-fields [name]").forEach((i) => { if (i.value !== i.dataset.default) fd.append(i.name, i.value); });
}
async function follow(id, ui, onDone) {
  for (;;) {
    let s;
    try { s = await api(`/api/jobs/${id}`); } catch (e) { ui.error(e.message); return; }
    ui.progress(s);
    if (s.state === "done") return onDone(s);
    if (s.state === "error" || s.state === "cancelled") return ui.error(s.state === "cancelled" ? "Cancelled." : s.message);
    await new Promise((r) => setTimeout(r, s.state === "queued" ? 700 : 400));
  }
}
function progressText(s, unit) {
  if (s.state === "queued") return s.position ? `Waiting in line (#${s.position})…` : "Waiting…";
  if (!s.total) return "Painting…";
  const pct = Math.round(100 * s.done / s.total);
  const eta = s.eta != null ? ` · about ${fmtTime(s.eta)} left` : "";
  const what = unit === "frames" ? `frame ${s.step} of ${s.steps}` + (s.rate ? ` · ${s.rate.toFixed(1)} fps` : "")
    : s.kind === "examine" ? `${s.step} of ${s.steps} styles` : `iteration ${s.step} of ${s.steps}`;
  return `${what} · ${pct}%${eta}`;
}

$("image-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  show($("error"), "");
  if (!state.photo) return show($("error"), "Choose a photo first.");
  const fd = new FormData();
  fd.append("photo", state.photo); styleForm(fd);
  fd.append("method", state.method); fd.append("size", $("size").value); optionsForm(fd);
  $("paint").disabled = true; $("actions").hidden = true; $("status").hidden = false;
  $("fill").style.width = "0"; $("fill").classList.add("busy"); $("status-text").textContent = "Sending…";
  if (window.innerWidth < 820) $("compare").scrollIntoView({ behavior: "smooth" });
  const t0 = performance.now();
  let shown = 0;
  try {
    const { job } = await api("/api/image", { method: "POST", body: fd });
    state.job = job;
    await follow(job, {
      progress(s) {
        $("fill").classList.toggle("busy", !s.total);
        if (s.total) $("fill").style.width = `${100 * s.done / s.total}%`;
        $("status-text").textContent = progressText(s);
        if (s.previews > shown) { shown = s.previews; showAfter(`/api/jobs/${job}/preview?n=${shown}`); }
      },
      error(msg) { show($("error"), msg); $("status").hidden = true; },
    }, (s) => {
      showAfter(`/api/jobs/${job}/result`);
      $("download").href = `/api/jobs/${job}/result?download=1`;
      $("download").setAttribute("download", s.download);
      $("result-meta").textContent = `${s.download} · ${((performance.now() - t0) / 1000).toFixed(1)} s`;
      $("actions").hidden = false; $("status").hidden = true;
    });
  } catch (err) { show($("error"), err.message); $("status").hidden = true; }
  finally { $("paint").disabled = false; state.job = null; }
});
function showAfter(src) { $("after").src = src; $("compare").classList.add("has-result"); }
$("cancel").addEventListener("click", () => state.job && api(`/api/jobs/${state.job}/cancel`, { method: "POST" }).catch(() => {}));
$("slider").addEventListener("input", () => {
  const v = $("slider").value;
  $("after-wrap").style.clipPath = `inset(0 0 0 ${v}%)`; $("handle").style.left = `${v}%`;
});

// ---- examine: every style as a grid; a click selects that style
$("examine-go").addEventListener("click", async () => {
  show($("examine-error"), "");
  if (!state.photo) return show($("examine-error"), "Choose a photo in the Image tab first.");
  const fd = new FormData(); fd.append("photo", state.photo); fd.append("size", "256");
  const grid = $("examine-grid"); grid.innerHTML = "";
  $("examine-go").disabled = true;
  try {
    const { job } = await api("/api/examine", { method: "POST", body: fd });
    let drawn = 0;
    const draw = (s) => {
      $("examine-status").textContent = s.state === "done" ? `${s.tiles.length} styles` : progressText(s);
      for (; drawn < s.tiles.length; drawn++) {
        const t = s.tiles[drawn], f = document.createElement("figure");
        const info = state.schema.styles.find((x) => x.name === t.style);
        f.dataset.style = t.style;
        f.innerHTML = `<img src="/api/jobs/${job}/tiles/${drawn}" alt=""><figcaption><b>${escapeHtml(info ? info.title : t.style)}</b>` +
          `<span>${t.method} · ${t.ms} ms</span></figcaption>`;
        f.addEventListener("click", () => { selectStyle(t.style); setTab("image"); });
        grid.appendChild(f);
      }
    };
    await follow(job, { progress: draw, error: (m) => show($("examine-error"), m) }, draw);
  } catch (err) { show($("examine-error"), err.message); }
  finally { $("examine-go").disabled = false; }
});

// ---- video jobs: the job id goes in the address, so a reload finds it again
let videoFile = null;
dropZone($("video-drop"), $("video"), (f) => { videoFile = f;
  $("video-text").innerHTML = `<b>${escapeHtml(f.name)}</b> · ${(f.size / 1e6).toFixed(1)} MB`; });
$("video-form").addEventListener("submit", async (e) => {
  e.preventDefault(); show($("video-error"), "");
  if (!videoFile) return show($("video-error"), "Choose a video clip first.");
  const fd = new FormData(); fd.append("video", videoFile); styleForm(fd);
  fd.append("method", state.method); fd.append("size", $("video-size").value);
  optionsForm(fd);
  $("video-go").disabled = true;
  try {
    const { job } = await api("/api/video", { method: "POST", body: fd });
    state.videoJob = job; setTab("video"); await followVideo(job);
  } catch (err) { show($("video-error"), err.message); }
  finally { $("video-go").disabled = false; }
});
async function followVideo(job) {
  $("video-status").hidden = false; $("video-actions").hidden = true; $("video-result").hidden = true;
  $("video-placeholder").hidden = false;
  await follow(job, {
    progress(s) { $("video-fill").style.width = s.total ? `${100 * s.done / s.total}%` : "0";
      $("video-status-text").textContent = progressText(s, "frames"); },
    error(m) { show($("video-error"), m); $("video-status").hidden = true; },
  }, (s) => {
    $("video-status").hidden = true; $("video-placeholder").hidden = true;
    $("video-result").src = `/api/jobs/${job}/result`; $("video-result").hidden = false;
    $("video-download").href = `/api/jobs/${job}/result?download=1`; $("video-download").setAttribute("download", s.download);
    $("video-actions").hidden = false;
  });
}
$("video-cancel").addEventListener("click", () => state.videoJob &&
  api(`/api/jobs/${state.videoJob}/cancel`, { method: "POST" }).catch(() => {}));

// ---- webcam: one frame out, one painted frame back, then the next
let cam = null;
function loadCamStyles() {
  const sel = $("cam-style");
  if (sel.options.length) return;
  for (const s of state.schema.styles.filter((x) => x.net)) {
    const o = document.createElement("option"); o.value = s.name; o.textContent = s.title; sel.appendChild(o);
  }
}
$("cam-style").addEventListener("change", () => cam && cam.ws.readyState === 1 &&
  cam.ws.send(JSON.stringify({ style: $("cam-style").value })));
$("cam-go").addEventListener("click", async () => {
  show($("cam-error"), "");
  if (cam) { stopCam(); return; }
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false }); }
  catch (e) { return show($("cam-error"), `The camera could not be opened: ${e.message}`); }
  const video = $("cam-in"); video.srcObject = stream; await video.play();
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/camera`);
  ws.binaryType = "blob";
  const canvas = document.createElement("canvas");
  cam = { stream, ws, times: [], url: null };
  $("cam-go").textContent = "Stop the camera";
  const send = () => {
    if (!cam || ws.readyState !== 1) return;
    const w = 320, h = Math.round(320 * (video.videoHeight || 240) / (video.videoWidth || 320));
    canvas.width = w; canvas.height = h; canvas.getContext("2d").drawImage(video, 0, 0, w, h);
    cam.inflight = true;
    canvas.toBlob((b) => b && ws.readyState === 1 && ws.send(b), "image/jpeg", 0.8);
  };
  ws.onopen = () => { ws.send(JSON.stringify({ style: $("cam-style").value, size: 320 })); };
  ws.onmessage = (ev) => {
    if (typeof ev.data === "string") {
      const m = JSON.parse(ev.data);
      if (m.error) show($("cam-error"), m.error);
      if (m.error && cam.inflight) { cam.inflight = false; send(); }  // a bad frame: go on with the next
      if (m.styles && !cam.started) { cam.started = true; send(); }
      return;
    }
    cam.inflight = false;
    if (cam.url) URL.revokeObjectURL(cam.url);
    cam.url = URL.createObjectURL(ev.data); $("cam-out").src = cam.url;
    const now = performance.now(); cam.times.push(now);
    cam.times = cam.times.filter((t) => now - t < 2000);
    if (cam.times.length > 1) $("fps").textContent = `${((cam.times.length - 1) / ((now - cam.times[0]) / 1000)).toFixed(1)} fps`;
    send();
  };
  ws.onerror = () => show($("cam-error"), "The connection to the server was lost.");
  ws.onclose = () => { if (cam && cam.ws === ws) stopCam(); };
});
function stopCam() {
  if (!cam) return;
  cam.stream.getTracks().forEach((t) => t.stop()); try { cam.ws.close(); } catch (e) { /* closed */ }
  cam = null; $("cam-go").textContent = "Start the camera"; $("fps").textContent = "– fps";
}

init().catch((e) => show($("error"), `The page could not load its settings: ${e.message}`));
