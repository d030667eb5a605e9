// Runs an ONNX model on onnxruntime (npm's onnxruntime-node, CPU) and prints
// the time per run and peak memory, for bench/gpt2_host.sh.
//   node onnxruntime_run.js model.onnx ids.bin 4x128 iterations threads out.bin
const fs = require('fs');
const ort = require('onnxruntime-node');

(async () => {
  const [model, idsFile, shapeText, iterationsText, threadsText, outFile] =
      process.argv.slice(2);
  const shape = shapeText.split('x').map(Number);
  const raw = fs.readFileSync(idsFile);
  const ids = new BigInt64Array(raw.buffer, raw.byteOffset, raw.length / 8);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threadsText),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = {[session.inputNames[0]]: new ort.Tensor('int64', ids, shape)};
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
