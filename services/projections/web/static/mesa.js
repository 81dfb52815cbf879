// Mesa's only script: screenshot previews, knowledge-base suggestions while typing, live ticket
// timeline. Served as a file (the CSP forbids inline scripts); pages work without it.
"use strict";
(function () {
  const csrf = () => document.querySelector("main")?.dataset.csrf || "";
  // times are drawn on the server: tell it the browser's zone (read on the next page)
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && !document.cookie.includes(`mesa_tz=${zone}`)) {
      document.cookie = `mesa_tz=${zone}; path=/; max-age=31536000; samesite=lax`;
    }
  } catch (e) { /* no Intl: the business calendar's zone */ }
  const MAX_BYTES = 10 * 1024 * 1024;
  const TYPES = ["image/png", "image/jpeg", "image/webp", "application/pdf", "text/plain", "text/x-log", ""];

  // -- files: drag-and-drop onto any box that takes them, previews, limits explained before sending
  function wireDrops(root) {
  for (const drop of root.querySelectorAll("[data-drop]")) {
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
          img.alt = "";  // the name beside it says what it is
          li.append(img, f.name);
        } else {
          li.textContent = f.name;
        }
        // a file chosen by mistake can be taken off before sending
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "link remove-file";
        remove.textContent = drop.dataset.removeLabel || "×";
        remove.setAttribute("aria-label", `${drop.dataset.removeLabel || "×"}: ${f.name}`);
        remove.addEventListener("click", () => {
          const dt = new DataTransfer();
          for (const kept of input.files) if (kept !== f) dt.items.add(kept);
          input.files = dt.files;
          showFiles();
        });
        li.append(" ", remove);
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
  }
  wireDrops(document);

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

  // -- the composer: a knowledge-base article goes into the answer as its title, excerpt and link
  function wireKbPick(root) {
    for (const pick of root.querySelectorAll("[data-kb-pick] select")) {
      pick.addEventListener("change", () => {
        const o = pick.selectedOptions[0];
        const text = document.getElementById("composer-body");
        if (!o || !o.value || !text) return;
        const link = new URL(o.value, location.origin).href;
        const piece = `${o.dataset.title}\n${o.dataset.excerpt}\n${link}`;
        text.value = text.value ? `${text.value.trimEnd()}\n\n${piece}` : piece;
        pick.value = "";
        text.focus();
      });
    }
  }
  wireKbPick(document);

  // -- live ticket: poll its version; when it moves, fetch the timeline and, if nobody has typed
  // into them, the forms as the ticket now stands (a form typed into keeps its version: sending
  // it tells of the conflict, with the text kept). Who else has the ticket open is shown too.
  const live = document.getElementById("live-box");
  const actions = document.getElementById("actions-box");
  const presence = document.getElementById("presence");
  let touched = false;
  if (actions) actions.addEventListener("input", () => { touched = true; });
  if (live) {
    let version = Number(document.querySelector("[data-ticket]").dataset.version);
    setInterval(async () => {
      if (document.hidden) return;
      const r = await fetch(live.dataset.live, { cache: "no-store" });
      if (!r.ok) return;
      const now = await r.json();
      if (presence) {
        presence.querySelector("span").textContent = (now.others || []).join(", ");
        presence.hidden = !(now.others || []).length;
      }
      if (now.version === version) return;
      const frag = await fetch(live.dataset.src, { cache: "no-store" });
      if (!frag.ok) return;
      live.innerHTML = await frag.text();
      version = now.version;
      document.querySelector("[data-ticket]").dataset.version = String(now.version);
      if (actions && !touched) {
        const fresh = await fetch(actions.dataset.src, { cache: "no-store" });
        if (fresh.ok) { actions.innerHTML = await fresh.text(); wireKbPick(actions); wireDrops(actions); }
      }
    }, 3000);
  }
})();
