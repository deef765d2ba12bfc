// Opens a t2x TF.js page in headless Chromium and prints what it classified (JSON).
//   node web/run_page.mjs http://127.0.0.1:PORT/index.html?images=images.json [chromium path]
// Exit 0 with the page's result on stdout; exit 1 with the page's error or console on stderr.
import { readPage } from "./headless_page.mjs";

const [url, executablePath = process.env.CHROMIUM || "/usr/bin/chromium"] = process.argv.slice(2);
await readPage(url, executablePath, "done", 60000, (page) => page.textContent("#result"));
