// web-test.js - drives the page stippled serves at GET / in headless
// Chromium (playwright-core), as a user would: upload a photo, move the
// budget slider, switch model, sampling and mask, and check what the page
// renders (boxes with class names, the cost shown, a mask layer covering
// the photo). Writes a screenshot. Prints "ok: ..." / "FAIL: ..." lines;
// exit 1 on any failure.
//
//   node web-test.js URL STREET_JPG SCENE_JPG OUT_DIR CHROMIUM
"use strict";
const path = require("path");
const { chromium } = require("playwright-core");

const [url, street, scene, outDir, executable] = process.argv.slice(2);
let failed = 0;
function check(cond, msg) {
  console.log((cond ? "ok: " : "FAIL: ") + msg);
  if (!cond) failed++;
}

// the page's state after a reply: boxes drawn, their labels, the cost shown
async function shown(page) {
  return page.evaluate(() => ({
    id: document.getElementById("overlay").dataset.shown || "",
    boxes: [...document.querySelectorAll("#overlay g.box text")].map((t) => t.textContent),
    budget: document.getElementById("cost").dataset.budget || "",
    masks: [...document.querySelectorAll("#overlay image.mask")].map((m) => ({
      w: Number(m.getAttribute("width")), h: Number(m.getAttribute("height")) })),
    photo: { w: document.getElementById("photo").naturalWidth,
             h: document.getElementById("photo").naturalHeight },
    error: document.getElementById("error").textContent,
  }));
}

// waits until a reply other than `after` is on screen
async function nextReply(page, after) {
  await page.waitForFunction((prev) => {
    const id = document.getElementById("overlay").dataset.shown;
    return (id && id !== prev) || document.getElementById("error").textContent;
  }, after, { timeout: 60000 });
  return shown(page);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: executable,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById("model").options.length > 0);
    const models = await page.$$eval("#model option", (os) => os.map((o) => o.value));
    check(models.includes("nanodet-g") && models.includes("stipple-r18-detseg"),
          "the page lists the detection models: " + models.join(", "));

    await page.setInputFiles("#file", street);
    let s = await nextReply(page, "");
    const people = s.boxes.filter((b) => b.startsWith("person ")).length;
    check(!s.error && people >= 5 && s.budget === "auto",
          "upload " + path.basename(street) + ": " + s.boxes.length + " boxes drawn, " + people +
          " people, budget " + s.budget + (s.error ? " error " + s.error : ""));

    await page.$eval("#budget", (el) => { el.value = "0.5"; el.dispatchEvent(new Event("input")); });
    s = await nextReply(page, s.id);
    check(!s.error && s.budget === "0.5" && s.boxes.length > 0,
          "slider to 0.5: the request says budget " + s.budget + ", " + s.boxes.length + " boxes");

    await page.selectOption("#model", "stipple-r18-detseg");
    s = await nextReply(page, s.id);
    await page.setInputFiles("#file", scene);
    s = await nextReply(page, s.id);
    const maskCount = await page.$$eval("#mask option", (os) => os.length - 1);
    check(maskCount > 0, "the sparse model's reply offers " + maskCount + " masks");
    await page.selectOption("#mask", "0");
    await page.waitForSelector("#overlay image.mask", { timeout: 10000 });
    s = await shown(page);
    const m = s.masks[0] || { w: 0, h: 0 };
    // the padded input covers the photo and at most 32 input pixels more
    check(m.w >= s.photo.w && m.h >= s.photo.h && m.w <= s.photo.w * 1.2 && m.h <= s.photo.h * 1.2,
          "mask 0 drawn over the photo: " + m.w.toFixed(0) + "x" + m.h.toFixed(0) + " for " +
          s.photo.w + "x" + s.photo.h);

    await page.selectOption("#sampling", "stochastic");
    s = await nextReply(page, s.id);
    check(!s.error && s.budget === "0.5", "stochastic sampling at budget 0.5 answers");
    await page.screenshot({ path: path.join(outDir, "web.png") });
    check(errors.length === 0, "no script errors" + (errors.length ? ": " + errors.join("; ") : ""));
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(failed ? 1 : 0), (e) => {
  console.log("FAIL: " + (e.stack || e));
  process.exit(1);
});
