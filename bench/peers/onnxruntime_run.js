// Runs an ONNX model on onnxruntime (npm's onnxruntime-node, CPU) and prints
// the time per run and peak memory, for bench/gpt2_host.sh and
// bench/host_models.sh. The one input is raw little-endian data of `type`
// (int64, the default, or float32).
//   node onnxruntime_run.js model.onnx input.bin 4x128 iterations threads out.bin [type]
const fs = require('fs');
const ort = require('onnxruntime-node');

(async () => {
  const [model, inputFile, shapeText, iterationsText, threadsText, outFile,
         type = 'int64'] = process.argv.slice(2);
  const shape = shapeText.split('x').map(Number);
  const raw = fs.readFileSync(inputFile);
  const input = type === 'float32'
      ? new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4)
      : new BigInt64Array(raw.buffer, raw.byteOffset, raw.length / 8);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threadsText),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = {[session.inputNames[0]]: new ort.Tensor(type, input, shape)};
  let outputs = await session.run(feeds);
  const iterations = Number(iterationsText);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; ++i)
    outputs = await session.run(feeds);
  const ms = Number(process.hrtime.bigint() - start) / 1e6 / iterations;
  const output = outputs[session.outputNames[0]];
  fs.writeFileSync(outFile, Buffer.from(output.data.buffer));
  const peakMb = process.resourceUsage().maxRSS / 1024;
  console.log(`time per run: ${ms.toFixed(3)} ms (${iterations} runs), peak memory ${peakMb.toFixed(0)} MB`);
})();
