// Runs an ONNX model in ONNX Runtime (CPU) — the peer our engine is checked against.
// Usage: node ort_run.js MODEL OUT_DIR NAME=FILE.npy... [--threads N] [--bench ITERS] [--unoptimized]
// Writes each output as OUT_DIR/NAME.npy (float32/int64) and prints one JSON line with the
// output names and, with --bench, p50/mean milliseconds over ITERS runs after a warm-up.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const DTYPES = { '<f4': ['float32', Float32Array], '<i8': ['int64', BigInt64Array],
                 '|u1': ['uint8', Uint8Array], '|i1': ['int8', Int8Array], '<i4': ['int32', Int32Array],
                 '|b1': ['bool', Uint8Array] };

function readNpy(file) {
  const buf = fs.readFileSync(file);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, 10 + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map(s => s.trim())
    .filter(s => s.length).map(Number);
  const [type, Ctor] = DTYPES[descr];
  const bytes = buf.subarray(10 + headerLen);
  const data = new Ctor(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  return new ort.Tensor(type, data, shape);
}

function writeNpy(file, tensor) {
  const descr = { float32: '<f4', int64: '<i8', uint8: '|u1', int8: '|i1', int32: '<i4', bool: '|b1' }[tensor.type];
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  while ((10 + header.length + 1) % 64) header += ' ';
  header += '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const data = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), data]));
}

async function main() {
  const args = process.argv.slice(2);
  const model = args[0], outDir = args[1];
  let threads = 0, benchIters = 0, level = 'all';
  const feeds = {};
  for (let i = 2; i < args.length; ++i) {
    if (args[i] === '--threads') threads = Number(args[++i]);
    else if (args[i] === '--bench') benchIters = Number(args[++i]);
    // Each node as the ONNX spec defines it: no fusion (MatMulNBits computes int4 weights
    // against int8-quantized activations, which is not the model's arithmetic).
    else if (args[i] === '--unoptimized') level = 'disabled';
    else { const [name, file] = args[i].split('='); feeds[name] = readNpy(file); }
  }
  const opts = { graphOptimizationLevel: level };
  if (threads) { opts.intraOpNumThreads = threads; opts.interOpNumThreads = 1; }
  const session = await ort.InferenceSession.create(model, opts);
  const result = await session.run(feeds);
  fs.mkdirSync(outDir, { recursive: true });
  const outputs = [];
  for (const name of session.outputNames) {
    const file = path.join(outDir, name.replace(/[^A-Za-z0-9_.-]/g, '_') + '.npy');
    writeNpy(file, result[name]);
    outputs.push({ name, file, shape: result[name].dims });
  }
  const report = { outputs };
  if (benchIters > 0) {
    for (let i = 0; i < 3; ++i) await session.run(feeds);
    const times = [];
    for (let i = 0; i < benchIters; ++i) {
      const t = process.hrtime.bigint();
      await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    times.sort((a, b) => a - b);
    report.p50_ms = times[Math.floor(times.length / 2)];
    report.mean_ms = times.reduce((a, b) => a + b, 0) / times.length;
  }
  console.log(JSON.stringify(report));
}

main().catch(e => { console.error(`ort_run: ${e.message}`); process.exit(2); });
