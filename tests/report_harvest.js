// Injected into a copy of results/report.html by tests/test_report.py: walks the Snakemake
// report as a reader would (each category, each item's viewer) and writes what it saw as JSON
// into a pre element (id harvest), which `chromium --dump-dom` returns. SHOW = "category|item" instead
// stops at that item's view (for a screenshot).
(async () => {
  const SHOW = "__SHOW__";
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const until = async (f) => { for (let i = 0; i < 100; i++) { const v = f(); if (v) return v; await sleep(100); } return null; };
  const menu = () => [...document.querySelectorAll("nav div.p-3 li")];
  const link = (text) => [...document.querySelectorAll("nav a")].find((a) => a.textContent.trim() === text);
  const out = { categories: {}, front: "" };
  await until(() => menu().some((li) => li.textContent.trim() === "Results"));
  if (SHOW === "front") { await sleep(1500); return; }
  out.front = document.querySelector("div.document") ? document.querySelector("div.document").textContent : "";
  const items = menu();
  const names = items.slice(items.findIndex((li) => li.textContent.trim() === "Results") + 1).map((li) => li.textContent.trim());
  for (const name of names) {
    await until(() => link(name));
    link(name).click();
    await until(() => document.querySelector("nav table tbody tr"));
    const seen = [];
    const count = document.querySelectorAll("nav table tbody tr").length;
    for (let r = 0; r < count; r++) {
      const row = document.querySelectorAll("nav table tbody tr")[r];
      const item = { name: row.querySelector("td").textContent.trim() };
      const eye = row.querySelector('a[iconname="eye"]');
      if (eye.getAttribute("href") !== "#") {
        item.kind = "download";
        item.length = eye.getAttribute("href").length;
        item.text = await (await fetch(eye.getAttribute("href"))).text();
      } else {
        const shown = () => document.querySelector("div.grow iframe, div.grow img");
        const before = shown() ? shown().src : null;
        eye.click();
        const view = await until(() => (shown() && shown().src !== before ? shown() : null));
        if (SHOW === `${name}|${item.name}`) { await sleep(1500); return; }
        item.kind = view ? view.tagName.toLowerCase() : "none";
        item.length = view ? view.src.length : 0;
        if (view && view.src.startsWith("data:text/html")) {
          const doc = new DOMParser().parseFromString(await (await fetch(view.src)).text(), "text/html");
          item.text = doc.body.textContent;
          item.cells = [...doc.querySelectorAll("td[data-metric]")].map((td) => ({ ...td.dataset, text: td.textContent }));
        }
      }
      seen.push(item);
    }
    out.categories[name] = seen;
    link("Results").click();
    await until(() => link(names[names.length - 1]));
  }
  const pre = document.createElement("pre");
  pre.id = "harvest";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
