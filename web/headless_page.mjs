// One headless-Chromium session for the page scripts (run_page.mjs, read_attention_page.mjs):
// opens `url`, waits until the page sets document.body.dataset[flag] = "1", fails with the
// page's own error (document.body.dataset.error), then writes what `read(page)` returns to
// stdout. Exit 1 with the error and the page's console on stderr.
import { chromium } from "playwright-core";

export async function readPage(url, executablePath, flag, timeout, read) {
  const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
  const logs = [];
  try {
    const page = await browser.newPage();
    page.on("console", (m) => logs.push(`console.${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
    await page.goto(url);
    await page.waitForFunction((f) => document.body.dataset[f] === "1", flag, { timeout });
    const error = await page.evaluate(() => document.body.dataset.error || "");
    if (error) throw new Error(error);
    process.stdout.write(await read(page));
  } catch (e) {
    process.stderr.write(`${e.message}\n${logs.join("\n")}\n`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
