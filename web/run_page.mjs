// Opens a t2x TF.js page in headless Chromium and prints what it classified (JSON).
//   node web/run_page.mjs http://127.0.0.1:PORT/index.html?images=images.json [chromium path]
// Exit 0 with the page's result on stdout; exit 1 with the page's error or console on stderr.
import { chromium } from "playwright-core";

const [url, executablePath = process.env.CHROMIUM || "/usr/bin/chromium"] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
const logs = [];
try {
  const page = await browser.newPage();
  page.on("console", (m) => logs.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.done === "1", null, { timeout: 60000 });
  const error = await page.evaluate(() => document.body.dataset.error || "");
  if (error) throw new Error(error);
  process.stdout.write(await page.textContent("#result"));
} catch (e) {
  process.stderr.write(`${e.message}\n${logs.join("\n")}\n`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
