// medmllm page: open a file, see it (POST /v1/medmllm/preview), ask about it (POST /v1/chat/completions,
// streamed). Plain JavaScript, nothing loaded from elsewhere; the API key lives in this page's memory only.
"use strict";

const $ = (id) => document.getElementById(id);
const FILE = "@@FILE@@";  // stands for the file's data URL in the history, the snippets and the request
const S = {
  key: "", model: null, file: null, preview: null, history: [], lastBody: null, busy: false, controller: null,
  shown: 0,  // previews drawn so far (document.body.dataset.shown: tests wait on it)
  asked: 0,  // preview requests made: only the latest one's answer is drawn
};

// -- HTTP -----------------------------------------------------------------------------------------
function headers() {
  const h = { "Content-Type": "application/json" };
  if (S.key) h.Authorization = "Bearer " + S.key;
  return h;
}

async function apiError(res) {
  try {
    const body = await res.json();
    if (body && body.error && body.error.message) return `${res.status}: ${body.error.message}`;
  } catch (e) { /* not JSON */ }
  return `${res.status}: ${res.statusText || "request failed"}`;
}

function show(el, text) { el.textContent = text; el.hidden = !text; }

// -- files ----------------------------------------------------------------------------------------
function dataURL(blob) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(new Error("the file could not be read"));
    r.readAsDataURL(blob);
  });
}

function sniff(bytes, name) {  // -> [mime, part type]
  const b = (i) => bytes[i];
  if (b(0) === 0x89 && b(1) === 0x50 && b(2) === 0x4e && b(3) === 0x47) return ["image/png", "image_url"];
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return ["image/jpeg", "image_url"];
  if (b(0) === 0x50 && b(1) === 0x4b) return ["application/zip", "file"];
  if (b(0) === 0x1f && b(1) === 0x8b) return ["application/gzip", "file"];
  const dicm = bytes.length > 132 && String.fromCharCode(b(128), b(129), b(130), b(131)) === "DICM";
  if (dicm || /\.(dcm|dicom)$/i.test(name)) return ["application/dicom", "file"];
  return ["application/octet-stream", "file"];
}

async function readFiles(list) {  // FileList -> S.file-shaped object
  const files = [...list].filter((f) => !f.name.startsWith(".") && f.name !== "DICOMDIR");
  if (!files.length) throw new Error("no file selected");
  if (files.length === 1) {
    const f = files[0], bytes = new Uint8Array(await f.arrayBuffer());
    if (/\.(hea|dat)$/i.test(f.name)) throw new Error("a WFDB record needs its .hea and .dat files: select both (or a zip)");
    const [mime, type] = sniff(bytes, f.name);
    return { name: f.name, label: f.name, mime, type, url: await dataURL(new Blob([bytes], { type: mime })) };
  }
  const entries = [], seen = new Set();
  for (const f of files) {
    let name = f.name;
    while (seen.has(name)) name = "_" + name;
    seen.add(name);
    entries.push({ name, bytes: new Uint8Array(await f.arrayBuffer()) });
  }
  const header = files.find((f) => /\.hea$/i.test(f.name));
  const name = header ? "record.zip" : "series.zip";
  const label = header ? `${header.name.replace(/\.hea$/i, "")} (WFDB record)` : `DICOM series of ${files.length} files`;
  return { name, label, mime: "application/zip",
           type: "file", url: await dataURL(zipStored(entries)), members: files.map((f) => f.name) };
}

async function openFiles(list) {
  show($("viewerror"), "");
  let file;
  try {
    file = await readFiles(list);
  } catch (e) {
    show($("viewerror"), e.message);
    return;
  }
  S.file = file;
  S.preview = null;
  for (const id of ["view", "windowbox", "slicebox"]) $(id).hidden = true;
  $("meta").textContent = "";
  newConversation();
  $("fileinfo").textContent = file.label;
  await loadPreview(null);
}

// -- viewer ---------------------------------------------------------------------------------------
async function loadPreview(windowId) {
  const body = { file_data: S.file.url, filename: S.file.name, window: windowId }, asked = ++S.asked;
  $("busy").hidden = false;
  try {
    const res = await fetch("/v1/medmllm/preview", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    if (!res.ok) throw new Error(await apiError(res));
    const preview = await res.json();
    if (asked !== S.asked) return;  // another file or window was asked for meanwhile
    const keep = S.preview && S.preview.images.length > 1 ? Number($("slice").value) : null;
    S.preview = preview;
    show($("viewerror"), "");
    drawPreview(keep);
  } catch (e) {
    if (asked === S.asked) show($("viewerror"), e.message);
  } finally {
    if (asked === S.asked) $("busy").hidden = true;
  }
}

function drawPreview(keepSlice) {
  const p = S.preview, img = $("view"), select = $("window");
  $("placeholder").hidden = true;
  img.hidden = false;
  img.className = p.kind === "ecg" ? "ecg" : "";
  img.alt = `${p.kind} preview`;
  select.replaceChildren();
  let group = null;
  for (const w of p.windows) {
    const preset = w.id !== "file" && w.id !== "auto" && w.id !== "custom";
    if (preset && !group) { group = document.createElement("optgroup"); group.label = "CT presets (HU)"; select.append(group); }
    const o = new Option(w.label, w.id, false, p.window && p.window.id === w.id);
    (preset ? group : select).append(o);
  }
  $("windowbox").hidden = !p.windows.length;
  const many = p.images.length > 1, slider = $("slice");
  $("slicebox").hidden = !many;
  slider.max = String(p.images.length - 1);
  slider.value = String(keepSlice !== null && keepSlice < p.images.length ? keepSlice : Math.floor(p.images.length / 2));
  showSlice();
  $("meta").textContent = describe(p);
  document.body.dataset.shown = String(++S.shown);
}

function showSlice() {
  const p = S.preview, i = Number($("slice").value);
  $("view").src = p.images[i] || p.images[0];
  if (p.slices) $("sliceno").textContent = `${p.slices[i] + 1} / ${p.depth}`;
}

function describe(p) {
  const fmt = { dicom: "DICOM", "dicom-series": "DICOM series", nifti: "NIfTI", wfdb: "WFDB" }[p.format] || p.format.toUpperCase();
  const parts = [fmt];
  if (p.modality) parts.push(p.modality);
  if (p.kind === "ecg") parts.push(`${p.leads.length} leads`, `${p.sampling_rate} Hz`, `${p.duration_s.toFixed(1)} s`);
  else parts.push(p.shape.join(" × "));
  return parts.join(" · ");
}

// -- chat -----------------------------------------------------------------------------------------
function newConversation() {
  if (S.controller) S.controller.abort();
  S.history = [];
  S.lastBody = null;
  const hint = document.createElement("p");
  hint.className = "hint";
  hint.textContent = S.file ? `Ask a question about ${S.file.label}.` : "Open a file, then ask a question about it.";
  $("messages").replaceChildren(hint);
  $("snippet").hidden = true;
}

function bubble(role) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  $("messages").querySelectorAll(".hint").forEach((h) => h.remove());
  $("messages").append(div);
  return div;
}

function userBubble(text, withFile) {
  const div = bubble("user");
  if (withFile) {
    const a = document.createElement("div");
    a.className = "attachment";
    if (S.preview && S.preview.kind !== "ecg") {
      const thumb = document.createElement("img");
      thumb.src = $("view").src;
      thumb.alt = "";
      a.append(thumb);
    }
    a.append(document.createTextNode(S.file.label));
    div.append(a);
  }
  div.append(document.createTextNode(text));
}

function filePart() {
  if (S.file.type === "image_url") return { type: "image_url", image_url: { url: FILE } };
  return { type: "file", file: { file_data: FILE, filename: S.file.name } };
}

function requestBody(question) {
  const first = S.file && !S.history.some((m) => Array.isArray(m.content));
  const content = first ? [filePart(), { type: "text", text: question }] : question;
  const body = { model: S.model || undefined, messages: [...S.history, { role: "user", content }], stream: true,
                 stream_options: { include_usage: true }, max_tokens: Math.max(1, Number($("maxtokens").value) || 128) };
  if ($("think").checked) body.chat_template_kwargs = { enable_thinking: true };
  return body;
}

function withFile(json) {  // the placeholder -> the file's data URL (split/join: no pattern characters)
  return S.file ? json.split(JSON.stringify(FILE)).join(JSON.stringify(S.file.url)) : json;
}

async function send(question) {
  if (S.busy || !question.trim()) return;
  const body = requestBody(question);
  const hasFile = Array.isArray(body.messages[body.messages.length - 1].content);
  S.lastBody = body;
  userBubble(question, hasFile);
  const reply = bubble("assistant"), content = document.createElement("div");
  content.className = "content";
  reply.append(content);
  let reasoning = null;
  S.busy = true;
  S.controller = new AbortController();
  $("send").disabled = true;
  $("stop").hidden = false;
  let answer = "";
  const started = performance.now();
  try {
    const res = await fetch("/v1/chat/completions", { method: "POST", headers: headers(),
      body: withFile(JSON.stringify(body)), signal: S.controller.signal });
    if (!res.ok) throw new Error(await apiError(res));
    await readStream(res, (delta) => {
      if (delta.reasoning_content) {
        if (!reasoning) reasoning = reasoningPanel(reply, content);
        reasoning.textContent += delta.reasoning_content;
      }
      if (delta.content) { answer += delta.content; content.textContent = answer; }
      $("messages").scrollTop = $("messages").scrollHeight;
    }, (usage) => {
      const note = document.createElement("div");
      note.className = "usage";
      note.textContent = `${usage.completion_tokens} tokens · ${((performance.now() - started) / 1000).toFixed(1)} s`;
      reply.append(note);
    });
    S.history = [...body.messages, { role: "assistant", content: answer }];
  } catch (e) {
    const err = document.createElement("div");
    err.className = "error";
    err.textContent = e.name === "AbortError" ? "stopped" : e.message;
    reply.append(err);
  } finally {
    reply.classList.add("done");
    S.busy = false;
    S.controller = null;
    $("send").disabled = false;
    $("stop").hidden = true;
  }
}

function reasoningPanel(reply, content) {
  const details = document.createElement("details"), summary = document.createElement("summary");
  const text = document.createElement("div");
  details.className = "reasoning";
  summary.textContent = "Reasoning";
  text.className = "rtext";
  details.append(summary, text);
  reply.insertBefore(details, content);
  return text;
}

async function readStream(res, onDelta, onUsage) {
  const reader = res.body.getReader(), decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        const obj = JSON.parse(data);
        if (obj.error) throw new Error(obj.error.message);
        const choice = obj.choices && obj.choices[0];
        if (choice && choice.delta) onDelta(choice.delta);
        if (obj.usage) onUsage(obj.usage);
      }
    }
  }
}

// -- the same call as curl or Python --------------------------------------------------------------
function snippetBody() {  // the call about to be sent (a question typed), else the last one sent
  const question = $("question").value.trim();
  return question || !S.lastBody ? requestBody(question || "Describe the findings.") : S.lastBody;
}

function shellQuote(s) { return "'" + s.replace(/'/g, "'\\''") + "'"; }

function curlSnippet() {
  const body = snippetBody(), base = location.origin;
  // an unquoted here-document: $(...) runs, so the JSON's own \, $ and ` are escaped first
  let json = JSON.stringify(body, null, 2).replace(/[\\$`]/g, (c) => "\\" + c);
  const lines = [];
  if (S.file) {
    const file = S.file.name;
    const members = S.file.members ? S.file.members.slice(0, 3).map(shellQuote).join(" ") : "";
    if (members) lines.push(`# first: zip -j ${file} ${members}${S.file.members.length > 3 ? " …" : ""}`);
    const mime = S.file.mime;
    json = json.split(JSON.stringify(FILE)).join(`"data:${mime};base64,$(base64 -w0 ${shellQuote(file)})"`);
  }
  lines.push(`curl -N ${base}/v1/chat/completions \\`, '  -H "Authorization: Bearer $MEDMLLM_API_KEY" \\',
             '  -H "Content-Type: application/json" \\', "  -d @- <<EOF", json, "EOF");
  return lines.join("\n");
}

function pythonSnippet() {
  const body = snippetBody(), extra = body.chat_template_kwargs;
  const messages = JSON.stringify(body.messages, null, 4).split("\n").join("\n    ");
  const lines = ["import base64", "import os", "", "from openai import OpenAI", "",
    `client = OpenAI(base_url="${location.origin}/v1", api_key=os.environ.get("MEDMLLM_API_KEY", "none"))`];
  let py = messages;
  if (S.file) {
    lines.push(`with open(${JSON.stringify(S.file.name)}, "rb") as f:`, "    data = base64.b64encode(f.read()).decode()");
    py = py.split(JSON.stringify(FILE)).join(`"data:${S.file.mime};base64," + data`);
  }
  lines.push("", "stream = client.chat.completions.create(", `    model=${JSON.stringify(body.model || "model")},`,
             `    messages=${py},`, `    max_tokens=${body.max_tokens},`, "    stream=True,",
             '    stream_options={"include_usage": True},');
  if (extra) lines.push('    extra_body={"chat_template_kwargs": {"enable_thinking": True}},');
  lines.push(")", "for chunk in stream:", "    delta = chunk.choices[0].delta if chunk.choices else None");
  if (extra) lines.push('    if delta and getattr(delta, "reasoning_content", None):',
                        '        print(delta.reasoning_content, end="", flush=True)');
  lines.push("    if delta and delta.content:", '        print(delta.content, end="", flush=True)', "print()");
  return lines.join("\n");
}

async function copy(text) {
  const pre = $("snippet");
  pre.textContent = text;
  pre.hidden = false;
  let note = "shown below";
  try { await navigator.clipboard.writeText(text); note = "copied"; } catch (e) { /* no clipboard: shown only */ }
  $("copied").textContent = note;
  setTimeout(() => { $("copied").textContent = ""; }, 2500);
}

// -- start ----------------------------------------------------------------------------------------
async function connect() {
  const status = $("status");
  try {
    const health = await fetch("/health");
    if (health.status === 503) {
      status.textContent = "model loading…"; status.className = "status";
      setTimeout(connect, 1500);
      return;
    }
    const res = await fetch("/v1/models", { headers: headers() });
    if (!res.ok) throw new Error(res.status === 401 ? "API key needed" : await apiError(res));
    S.model = (await res.json()).data[0].id;
    $("model").textContent = S.model;
    status.textContent = "ready"; status.className = "status ok";
    if (S.file && !S.preview) loadPreview(null);  // a file opened before the key was right
  } catch (e) {
    status.textContent = e.message; status.className = "status bad";
  }
}

function wire() {
  $("key").addEventListener("input", (e) => { S.key = e.target.value.trim(); });
  $("key").addEventListener("change", connect);
  $("file").addEventListener("change", (e) => { if (e.target.files.length) openFiles(e.target.files); e.target.value = ""; });
  $("folder").addEventListener("change", (e) => { if (e.target.files.length) openFiles(e.target.files); e.target.value = ""; });
  $("window").addEventListener("change", (e) => loadPreview(e.target.value));
  $("slice").addEventListener("input", showSlice);
  $("stage").addEventListener("wheel", (e) => {
    if (!S.preview || S.preview.images.length < 2) return;
    e.preventDefault();
    const s = $("slice");
    s.value = String(Math.min(Number(s.max), Math.max(0, Number(s.value) + (e.deltaY > 0 ? 1 : -1))));
    showSlice();
  }, { passive: false });
  const stage = $("stage");
  stage.addEventListener("dragover", (e) => { e.preventDefault(); stage.classList.add("dragging"); });
  stage.addEventListener("dragleave", () => stage.classList.remove("dragging"));
  stage.addEventListener("drop", (e) => {
    e.preventDefault(); stage.classList.remove("dragging");
    if (e.dataTransfer.files.length) openFiles(e.dataTransfer.files);
  });
  $("ask").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("question").value;
    if (!q.trim() || S.busy) return;
    $("question").value = "";
    send(q.trim());
  });
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("ask").requestSubmit(); }
  });
  $("stop").addEventListener("click", () => S.controller && S.controller.abort());
  $("newchat").addEventListener("click", newConversation);
  $("copycurl").addEventListener("click", () => copy(curlSnippet()));
  $("copypy").addEventListener("click", () => copy(pythonSnippet()));
}

wire();
connect();
