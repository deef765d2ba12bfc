// Opens a t2x attention page (t2x-decoder --attention_dir) in headless Chromium, chooses every
// example, attention type, layer and head with the page's own controls, and prints what it
// drew (JSON): for the heatmap, each cell's query, key and weight (data-q, data-k, data-w) and the
// token labels; for the lines view, each line's query, key, head and weight.
//   node web/read_attention_page.mjs file:///.../index.html [chromium path]
// Exit 0 with the JSON on stdout; exit 1 with the page's error or console on stderr.
import { readPage } from "./headless_page.mjs";

const [url, executablePath = process.env.CHROMIUM || "/usr/bin/chromium"] = process.argv.slice(2);

const values = (page, id) => page.$$eval(`#${id} option`, (os) => os.map((o) => o.value));

async function choose(page, id, value) {
  await page.evaluate(() => { delete document.body.dataset.ready; });
  await page.selectOption(`#${id}`, value);
  await page.waitForFunction(() => document.body.dataset.ready === "1", null, { timeout: 10000 });
}

const drawn = (page) => page.evaluate(() => {
  const read = (el) => ({ q: Number(el.dataset.q), k: Number(el.dataset.k), w: Number(el.dataset.w),
                          head: el.dataset.head === undefined ? null : Number(el.dataset.head),
                          opacity: el.getAttribute("stroke-opacity") });
  const text = (sel) => Array.from(document.querySelectorAll(sel)).map((e) => e.textContent);
  return {
    status: document.getElementById("status").textContent,
    cells: Array.from(document.querySelectorAll("#heatmap td.cell")).map(read),
    lines: Array.from(document.querySelectorAll("#lines line")).map(read),
    heatmap_queries: text("#heatmap th.query"), heatmap_keys: text("#heatmap th.key"),
    lines_queries: text("#lines text.query"), lines_keys: text("#lines text.key"),
  };
});

async function readAll(page) {
  const views = [];
  for (const example of await values(page, "example")) {
    await choose(page, "example", example);
    for (const type of await values(page, "type")) {
      await choose(page, "type", type);
      for (const layer of await values(page, "layer")) {
        await choose(page, "layer", layer);
        for (const head of await values(page, "head")) {
          await choose(page, "head", head);
          for (const view of ["heatmap", "lines"]) {
            await choose(page, "view", view);
            views.push({ example: Number(example), type, layer: Number(layer), head, view, ...(await drawn(page)) });
          }
          await choose(page, "view", "heatmap");
        }
      }
    }
  }
  const layerLabel = await page.textContent("#layer-label");
  return JSON.stringify({ layer_label: layerLabel, views });
}

await readPage(url, executablePath, "ready", 30000, readAll);
