// tfjs-run.js - runs a TensorFlow.js graph model (JSON + weight files) on
// float32 inputs with the pure-JavaScript cpu backend, the reference the
// NanoDet import is checked against (train/tests/test_nanodet.py).
//
//   node tfjs-run.js MODEL_JSON OUT_DIR INPUT.f32:NxCxHxW [INPUT2.f32:...]
//
// The model is loaded from memory (no file:// or http handlers, nothing
// fetched). For input k, every graph output is written to
// OUT_DIR/k.OUTPUTNAME.f32 (raw little-endian float32) and its shape to
// OUT_DIR/k.json. Needs @tensorflow/tfjs (NODE_PATH may point at the
// node_modules holding it). Exit 0, or 1 with a message.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [modelJson, outDir, ...inputs] = process.argv.slice(2);
  if (!modelJson || !outDir || inputs.length === 0) {
    throw new Error('usage: tfjs-run.js MODEL_JSON OUT_DIR INPUT.f32:NxCxHxW...');
  }
  const tf = require('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const graph = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const dir = path.dirname(modelJson);
  const specs = [];
  const parts = [];
  for (const group of graph.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) parts.push(fs.readFileSync(path.join(dir, p)));
  }
  const weights = Buffer.concat(parts);
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: graph.modelTopology,
    weightSpecs: specs,
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.length),
  }));
  fs.mkdirSync(outDir, {recursive: true});
  for (let k = 0; k < inputs.length; k++) {
    const [file, dims] = inputs[k].split(':');
    const shape = dims.split('x').map(Number);
    const buf = fs.readFileSync(file);
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    const x = tf.tensor(data, shape);
    const outs = await model.executeAsync(x);
    const list = Array.isArray(outs) ? outs : [outs];
    const shapes = {};
    for (let i = 0; i < list.length; i++) {
      const name = model.outputs[i].name.replace(/:\d+$/, '');
      fs.writeFileSync(path.join(outDir, `${k}.${name}.f32`), Buffer.from((await list[i].data()).buffer));
      shapes[name] = list[i].shape;
    }
    fs.writeFileSync(path.join(outDir, `${k}.json`), JSON.stringify(shapes));
    tf.dispose([x, ...list]);
  }
}

main().catch((e) => {
  console.error(`tfjs-run: ${e.message}`);
  process.exit(1);
});
