// Progressive enhancement only: every feature works without this file.
(function () {
  "use strict";
  const q = document.getElementById("q");
  if (q) {
    q.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); q.form.requestSubmit(); }
    });
  }
  // Feedback without a page reload.
  document.querySelectorAll("form.feedback").forEach((form) => {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const vote = e.submitter ? e.submitter.value : "solved";
      const status = form.querySelector(".fb-status");
      const body = { query: form.elements.query.value, article_id: form.elements.article_id.value, vote };
      try {
        const r = await fetch("/api/v1/feedback", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
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
  // Click-to-copy on the "write this up" command.
  document.querySelectorAll("pre.copyable").forEach((pre) => {
    pre.title = "Click to copy";
    pre.addEventListener("click", () => { navigator.clipboard && navigator.clipboard.writeText(pre.textContent); });
  });
})();
