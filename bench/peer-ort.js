// peer-ort.js - ONNX Runtime (CPU) timing of an ONNX model, for bench/run-bench.sh.
//
//   NODE_PATH=bench/.peers/node_modules node bench/peer-ort.js MODEL.onnx \
//       --size HxW --threads N --runs R [--warmup W]
//
// The ONNX file is exported by bench/peer-torch.py --export-onnx from the same
// Stipple file the other runtimes load, at a fixed input size, NCHW. The
// session uses intraOpNumThreads = N, interOpNumThreads = 1, all graph
// optimisations and sequential execution on the CPU provider. A fixed
// pseudo-random input of 1 x C x H x W (C from the model's input shape) runs
// W untimed times, then R timed times (process.hrtime). Prints one JSON
// object on one line: min/median/mean ms and this process's peak RSS in MiB
// (getrusage: node and the ONNX Runtime library included).
'use strict';

const ort = require('onnxruntime-node');

function usage(msg) {
	process.stderr.write(`peer-ort: ${msg}\n`);
	process.exit(2);
}

function parseArgs(argv) {
	const a = {model: null, size: null, threads: 1, runs: 10, warmup: 1};
	const ints = {'--threads': [1, 256], '--runs': [1, 100000], '--warmup': [0, 100000]};
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		if (arg === '--size') {
			const m = /^(\d+)x(\d+)$/.exec(argv[++i] || '');
			if (!m) usage('--size wants HxW');
			a.size = [Number(m[1]), Number(m[2])];
		} else if (arg in ints) {
			const v = Number(argv[++i]);
			const [lo, hi] = ints[arg];
			if (!Number.isInteger(v) || v < lo || v > hi) usage(`${arg} wants an integer in ${lo}..${hi}`);
			a[arg.slice(2)] = v;
		} else if (!arg.startsWith('-') && a.model === null) {
			a.model = arg;
		} else {
			usage(`unexpected argument '${arg}'`);
		}
	}
	if (a.model === null || a.size === null) usage('usage: peer-ort.js MODEL.onnx --size HxW [--threads N] [--runs R] [--warmup W]');
	return a;
}

// N(0,1)-like values (sum of four uniforms) from a fixed xorshift32 sequence.
function fixedInput(n) {
	const x = new Float32Array(n);
	let s = 0x9e3779b9 | 0;
	const next = () => {
		s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
		return (s >>> 0) / 4294967296;
	};
	for (let i = 0; i < n; i++)
		x[i] = (next() + next() + next() + next() - 2) * Math.sqrt(3);
	return x;
}

async function main() {
	const a = parseArgs(process.argv.slice(2));
	const session = await ort.InferenceSession.create(a.model, {
		executionProviders: ['cpu'],
		intraOpNumThreads: a.threads,
		interOpNumThreads: 1,
		graphOptimizationLevel: 'all',
		executionMode: 'sequential',
	});
	const [h, w] = a.size;
	const dims = session.inputMetadata ? session.inputMetadata[0].shape : null;
	const channels = dims && typeof dims[1] === 'number' ? dims[1] : 3;
	const input = new ort.Tensor('float32', fixedInput(channels * h * w), [1, channels, h, w]);
	const feeds = {[session.inputNames[0]]: input};
	for (let i = 0; i < a.warmup; i++)
		await session.run(feeds);
	const times = [];
	for (let i = 0; i < a.runs; i++) {
		const t0 = process.hrtime.bigint();
		await session.run(feeds);
		times.push(Number(process.hrtime.bigint() - t0) / 1e6);
	}
	const sorted = [...times].sort((x, y) => x - y);
	const mid = sorted.length >> 1;
	const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
	const round4 = (v) => Math.round(v * 1e4) / 1e4;
	console.log(JSON.stringify({
		runtime: 'onnxruntime',
		version: ort.env.versions ? ort.env.versions.common : 'unknown',
		model: a.model,
		size: [h, w],
		threads: a.threads,
		runs: a.runs,
		warmup: a.warmup,
		min_ms: round4(sorted[0]),
		median_ms: round4(median),
		mean_ms: round4(times.reduce((s, t) => s + t, 0) / times.length),
		peak_rss_mb: round4(process.resourceUsage().maxRSS / 1024),
	}));
}

main().catch((e) => {
	process.stderr.write(`peer-ort: ${e.message || e}\n`);
	process.exit(1);
});
