// Mesa's only script: screenshot previews, knowledge-base suggestions while typing, live ticket
// timeline. Served as a file (the CSP forbids inline scripts); pages work without it.
"use strict";
(function () {
  const csrf = () => document.querySelector("main")?.dataset.csrf || "";
  const MAX_BYTES = 10 * 1024 * 1024;
  const TYPES = ["image/png", "image/jpeg", "image/webp", "application/pdf", "text/plain", "text/x-log", ""];

  // -- files: drag-and-drop onto any box that takes them, previews, limits explained before sending
  for (const drop of document.querySelectorAll("[data-drop]")) {
    const input = drop.querySelector("input[type=file]");
    const previews = drop.querySelector(".previews");
    if (!input || !previews) continue;
    const showFiles = () => {
      previews.replaceChildren();
      for (const f of input.files) {
        const li = document.createElement("li");
        if (f.size > MAX_BYTES || (f.type && !TYPES.includes(f.type))) {
          li.className = "bad";
          li.textContent = `${f.name}: ${f.size > MAX_BYTES ? "> 10 MB" : f.type}`;
        } else if (f.type.startsWith("image/")) {
          const img = document.createElement("img");
          img.src = URL.createObjectURL(f);
          img.alt = f.name;
          li.append(img, f.name);
        } else {
          li.textContent = f.name;
        }
        previews.append(li);
      }
    };
    input.addEventListener("change", showFiles);
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      const dt = new DataTransfer();
      for (const f of [...input.files, ...e.dataTransfer.files]) dt.items.add(f);
      input.files = dt.files;
      showFiles();
    });
  }

  // -- deflection: articles that may answer the question before the ticket is sent
  const box = document.getElementById("suggestions");
  const fields = document.querySelectorAll("[data-suggest]");
  let timer = null;
  async function suggest() {
    const q = [...fields].map((f) => f.value).join(" ").trim();
    if (q.length < 3) { box.hidden = true; return; }
    const r = await fetch(`/kb/suggest?q=${encodeURIComponent(q.slice(0, 300))}`);
    if (!r.ok) return;
    const found = await r.json();
    const list = box.querySelector("ul");
    const tpl = document.getElementById("suggestion-item");
    list.replaceChildren();
    for (const a of found) {
      const li = tpl.content.firstElementChild.cloneNode(true);
      const link = li.querySelector("a");
      link.href = `/kb/a/${a.id}`;
      link.textContent = a.title;
      li.querySelector("button").addEventListener("click", async () => {
        const body = new URLSearchParams({ csrf: csrf(), q });
        const d = await fetch(`/kb/a/${a.id}/deflect`, { method: "POST", body });
        if (d.ok) {
          const glad = box.querySelector(".glad");
          glad.textContent = (await d.json()).message;
          glad.hidden = false;
        }
      });
      list.append(li);
    }
    box.hidden = found.length === 0;
  }
  if (box && fields.length) {
    fields.forEach((f) => f.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(suggest, 350); }));
  }

  // -- live timeline: poll the ticket's version; when it moves, fetch the timeline fragment
  const live = document.getElementById("live-box");
  if (live) {
    let version = Number(document.querySelector("[data-ticket]").dataset.version);
    setInterval(async () => {
      if (document.hidden) return;
      const r = await fetch(live.dataset.live, { cache: "no-store" });
      if (!r.ok) return;
      const seen = (await r.json()).version;
      if (seen === version) return;
      const frag = await fetch(live.dataset.src, { cache: "no-store" });
      if (!frag.ok) return;
      live.innerHTML = await frag.text();
      version = seen;
      document.querySelector("[data-ticket]").dataset.version = String(seen);
    }, 3000);
  }
})();
