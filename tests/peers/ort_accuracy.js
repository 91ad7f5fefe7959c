// Top-1 accuracy of an ONNX classifier in ONNX Runtime over images/labels given as .npy files.
// Usage: node ort_accuracy.js MODEL IMAGES.npy LABELS.npy [--batch B] [--threads T]
// Prints {"accuracy": ..., "samples": N, "correct": C}.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function readNpy(file) {
  const buf = fs.readFileSync(file);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, 10 + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map(s => s.trim())
    .filter(s => s.length).map(Number);
  const bytes = buf.subarray(10 + headerLen);
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  if (descr === '<f4') return { data: new Float32Array(ab), shape };
  if (descr === '<i8') return { data: new BigInt64Array(ab), shape };
  throw new Error(`${file}: unsupported dtype ${descr}`);
}

async function main() {
  const [model, imagesFile, labelsFile, ...rest] = process.argv.slice(2);
  let batch = 500, threads = 0;
  for (let i = 0; i < rest.length; ++i) {
    if (rest[i] === '--batch') batch = Number(rest[++i]);
    if (rest[i] === '--threads') threads = Number(rest[++i]);
  }
  const images = readNpy(imagesFile), labels = readNpy(labelsFile);
  const opts = threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {};
  const session = await ort.InferenceSession.create(model, opts);
  const n = images.shape[0], per = images.data.length / n;
  let correct = 0;
  for (let b = 0; b < n; b += batch) {
    const m = Math.min(batch, n - b);
    const x = new ort.Tensor('float32', images.data.subarray(b * per, (b + m) * per),
                             [m, ...images.shape.slice(1)]);
    const out = (await session.run({ [session.inputNames[0]]: x }))[session.outputNames[0]];
    const classes = out.data.length / m;
    for (let i = 0; i < m; ++i) {
      let best = 0;
      for (let c = 1; c < classes; ++c) if (out.data[i * classes + c] > out.data[i * classes + best]) best = c;
      if (BigInt(best) === labels.data[b + i]) ++correct;
    }
  }
  console.log(JSON.stringify({ accuracy: correct / n, samples: n, correct }));
}

main().catch(e => { console.error(`ort_accuracy: ${e.message}`); process.exit(2); });
