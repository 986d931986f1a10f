'use strict';
// Runs an ONNX model in onnxruntime-web (WebAssembly backend) under Node.js, for jax2onnx's
// allclose_onnxruntime_web. Usage: node onnxruntime_web_runner.cjs SPEC.json
// SPEC: {"model": path, "moduleDir": dir whose node_modules holds onnxruntime-web (or null),
//        "inputs": [{"name", "type", "dims", "data"}]}, data being the little-endian bytes in base64.
// Prints {"version", "outputs": [{"name", "type", "dims", "data"}]} on stdout.
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const ARRAYS = {
  float16: Uint16Array, float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array,
  int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array,
  uint64: BigUint64Array, bool: Uint8Array,
};

function decode(ort, t) {
  const bytes = Buffer.from(t.data, 'base64');
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes); // typed arrays need an aligned buffer of their own
  const Arr = ARRAYS[t.type];
  if (!Arr) throw new Error(`input ${t.name}: type ${t.type} is not supported by this runner`);
  return new ort.Tensor(t.type, new Arr(copy.buffer, 0, bytes.length / Arr.BYTES_PER_ELEMENT), t.dims);
}

function encode(name, tensor) {
  const data = tensor.data;
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return { name, type: tensor.type, dims: Array.from(tensor.dims), data: bytes.toString('base64') };
}

async function main() {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const ort = createRequire(path.join(spec.moduleDir || process.cwd(), 'runner.js'))('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(fs.readFileSync(spec.model), { executionProviders: ['wasm'] });
  const feeds = {};
  for (const t of spec.inputs) feeds[t.name] = decode(ort, t);
  const results = await session.run(feeds);
  const outputs = session.outputNames.map((n) => encode(n, results[n]));
  process.stdout.write(JSON.stringify({ version: ort.env.versions.web, outputs }));
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e));
  process.exit(1);
});
