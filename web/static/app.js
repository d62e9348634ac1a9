// Progressive enhancement only: every feature works without this file.
(function () {
  "use strict";
  const q = document.getElementById("q");
  if (q) {
    q.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); q.form.requestSubmit(); }
    });
    // A long paste does not fit a link: it is posted (with the form's CSRF token) instead.
    q.form.addEventListener("submit", () => {
      if (q.value.length > 4000 && q.form.method.toLowerCase() === "get") {
        q.form.method = "post";
        const t = document.createElement("input");
        t.type = "hidden"; t.name = "csrf_token"; t.value = q.form.dataset.csrf;
        q.form.appendChild(t);
      }
    });
  }
  // Feedback without a page reload: the same form, posted in the background.
  document.querySelectorAll("form.feedback").forEach((form) => {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const status = form.querySelector(".fb-status");
      const body = new FormData(form);
      body.set("vote", e.submitter ? e.submitter.value : "solved");
      try {
        const r = await fetch(form.action, { method: "POST", headers: { "Accept": "application/json" }, body });
        status.textContent = r.ok ? "Thanks for the feedback!" : "Could not record feedback.";
        if (r.ok) form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      } catch (err) { status.textContent = "Could not record feedback."; }
    });
  });
  // Copy-link buttons on article sections.
  document.querySelectorAll(".body h2[id], .body h3[id]").forEach((h) => {
    const b = document.createElement("button");
    b.type = "button"; b.className = "copy-link"; b.textContent = "#"; b.title = "Copy link to this section";
    b.addEventListener("click", async () => {
      const url = location.origin + location.pathname + "#" + h.id;
      try { await navigator.clipboard.writeText(url); b.textContent = "copied"; } catch (err) { location.hash = h.id; }
      setTimeout(() => { b.textContent = "#"; }, 1500);
    });
    h.appendChild(b);
  });
  // Back to results after a posted (long) search, which has no link to return to.
  const back = document.querySelector("a.back[data-history]");
  if (back && document.referrer.startsWith(location.origin + "/search")) {
    back.hidden = false;
    back.addEventListener("click", (e) => { e.preventDefault(); history.back(); });
  }
  // Triage: upload with a progress bar, then follow the job until its table is ready.
  const tform = document.getElementById("triage-form");
  if (tform) {
    tform.addEventListener("submit", (e) => {
      const file = tform.querySelector("#file").files[0];
      const status = document.getElementById("triage-status");
      const button = document.getElementById("triage-submit");
      e.preventDefault();
      if (file && file.size > Number(tform.dataset.limit)) {
        status.textContent = "That file is over 10 MB, the limit here: triage its end, or run `kb triage` on it.";
        return;
      }
      const bar = document.getElementById("upload-progress");
      const xhr = new XMLHttpRequest();
      bar.hidden = false; button.disabled = true; status.textContent = "Uploading…";
      xhr.upload.addEventListener("progress", (ev) => {
        if (ev.lengthComputable) { bar.max = ev.total; bar.value = ev.loaded; }
      });
      xhr.addEventListener("load", () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
        if (xhr.status === 202 && body) { location.href = body.url; return; }
        button.disabled = false; bar.hidden = true;
        status.textContent = (body && body.error && body.error.message) || ("The server answered " + xhr.status + ".");
      });
      xhr.addEventListener("error", () => { button.disabled = false; status.textContent = "Could not reach the server."; });
      xhr.open("POST", tform.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.send(new FormData(tform));
    });
  }
  const job = document.getElementById("triage-job");
  if (job && job.dataset.statusUrl) {
    const progress = document.getElementById("triage-progress");
    const phase = document.getElementById("triage-phase");
    const poll = async () => {
      try {
        const r = await fetch(job.dataset.statusUrl, { headers: { "Accept": "application/json" } });
        if (!r.ok) { location.reload(); return; }  // the page says what happened
        const s = await r.json();
        if (s.state === "done" || s.state === "failed") { location.reload(); return; }
        if (s.total) { progress.max = s.total; progress.value = s.done; }
        phase.textContent = s.state === "queued" ? "Waiting for the triage before it."
          : s.phase.charAt(0).toUpperCase() + s.phase.slice(1) + (s.total ? ": " + s.done.toLocaleString() + " of " + s.total.toLocaleString() : "");
      } catch (err) { /* the next poll tries again */ }
      setTimeout(poll, 1000);
    };
    setTimeout(poll, 500);
  }
  // Click-to-copy on the "write this up" command.
  document.querySelectorAll("pre.copyable").forEach((pre) => {
    pre.title = "Click to copy";
    pre.addEventListener("click", () => { navigator.clipboard && navigator.clipboard.writeText(pre.textContent); });
  });
})();
