// Render ZPL to PNG with the independent renderer zpl-renderer-js (zebrash, WebAssembly).
// usage: node zpl_render.cjs MODULES_DIR JOBS.json
// JOBS.json: [{"zpl": "in.zpl", "png": "out.png", "width_mm": 57.15, "height_mm": 31.75,
//              "dpmm": 8}, ...]; writes the first label of each job to its png.
const path = require("node:path");
const fs = require("node:fs");
const [modules, jobsFile] = process.argv.slice(2);
const { ready } = require(path.join(modules, "zpl-renderer-js"));
(async () => {
  const { api } = await ready;
  const jobs = JSON.parse(fs.readFileSync(jobsFile, "utf8"));
  for (const job of jobs) {
    const zpl = fs.readFileSync(job.zpl, "utf8");
    const pngs = await api.zplToBase64MultipleAsync(zpl, job.width_mm, job.height_mm,
                                                    job.dpmm);
    fs.writeFileSync(job.png, Buffer.from(pngs[0], "base64"));
  }
  console.log(jobs.length);
  process.exit(0);
})().catch((err) => { console.error(String(err)); process.exit(1); });
