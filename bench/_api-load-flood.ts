// The load that `api-load` measures the API under, run in a process of its own so it does not share
// an event loop with autocannon: viewers scrubbing `yz` slices of a volume in a loop, and open
// Server-Sent Event streams. Each viewer and each stream is a user with its own API key (reads need
// one) and connects from its own loopback address (127.0.0.0/8 is all local), as distinct clients
// would, so per-user and per-address limits treat them as such.
// Args: <api url> <volume id> <experiment id> <viewers> <streams>; the keys in API_LOAD_FLOOD_KEYS
// ({"viewers": [...], "streams": [...]}, one per viewer and stream). Prints `{"ready":...}` once
// every stream has its snapshot, and its counts as one JSON line after "stop" arrives on stdin.
import http from 'node:http';
import { benchArgs, integerArg } from './_args.ts';

const { positionals } = benchArgs({ options: {}, allowPositionals: true });
if (positionals.length !== 5) {
  console.error(`expected <api url> <volume id> <experiment id> <viewers> <streams>, got ${positionals.length} arguments`);
  process.exit(2);
}
const [url, volumeId, experimentId, viewersArg, streamsArg] = positionals;
const VIEWERS = integerArg('viewers', viewersArg, 0);
const STREAMS = integerArg('streams', streamsArg, 0);
const { hostname, port } = new URL(url);
const keys = JSON.parse(process.env.API_LOAD_FLOOD_KEYS ?? '{}') as { viewers?: string[]; streams?: string[] };
if (keys.viewers?.length !== VIEWERS || keys.streams?.length !== STREAMS) {
  throw new Error(`API_LOAD_FLOOD_KEYS must hold ${VIEWERS} viewer keys and ${STREAMS} stream keys`);
}
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

const statuses: Record<string, number> = {};
const count = (k: string | number) => (statuses[k] = (statuses[k] ?? 0) + 1);
let sliceRequests = 0;
let sliceBytes = 0;
const sliceMs: number[] = [];
let stopping = false;

/** One GET to completion: status and body length. */
function get(agent: http.Agent, path: string, key: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ hostname, port, path, agent, headers: bearer(key) }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function viewer(i: number, width: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: `127.0.1.${i + 1}` });
  // Each viewer scrubs from its own starting slice, through the image and label layers.
  for (let k = 0; !stopping; k++) {
    const index = (i * 37 + k) % width;
    const layer = k % 2 ? 'label' : 'image';
    const t = performance.now();
    try {
      const r = await get(agent, `/volumes/${volumeId}/slices/yz/${index}?layer=${layer}`, keys.viewers![i]);
      count(r.status);
      sliceBytes += r.bytes;
    } catch (e) {
      count((e as NodeJS.ErrnoException).code ?? 'error');
    }
    sliceMs.push(performance.now() - t);
    sliceRequests++;
  }
  agent.destroy();
}

/** Opens one event stream; resolves with its status once the snapshot event arrived (or it failed). */
function openStream(i: number, open: http.ClientRequest[]): Promise<number> {
  return new Promise((resolve) => {
    const localAddress = `127.0.2.${(i % 250) + 1}`;
    const req = http.get({ hostname, port, path: `/experiments/${experimentId}/events`, localAddress, agent: false, headers: bearer(keys.streams![i]) }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return resolve(res.statusCode ?? 0);
      }
      let text = '';
      const onData = (d: Buffer) => {
        text += d.toString();
        if (text.includes('event: snapshot')) {
          res.off('data', onData);
          res.resume();
          resolve(200);
        }
      };
      res.on('data', onData);
    });
    req.on('error', () => resolve(0));
    open.push(req);
  });
}

const meta = await new Promise<{ width: number }>((resolve, reject) => {
  http.get(`${url}/volumes/${volumeId}`, { headers: bearer(keys.viewers![0]) }, (res) => {
    let t = '';
    res.on('data', (d) => (t += d));
    res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(t).volume) : reject(new Error(`GET /volumes/${volumeId}: ${res.statusCode} ${t}`))));
  }).on('error', reject);
});

const streams: http.ClientRequest[] = [];
const streamStatuses = await Promise.all(Array.from({ length: STREAMS }, (_, i) => openStream(i, streams)));
const streamsOpen = streamStatuses.filter((s) => s === 200).length;
const viewers = Array.from({ length: VIEWERS }, (_, i) => viewer(i, meta.width));
console.log(JSON.stringify({ ready: true, streamsOpen, streamStatuses: Object.fromEntries([...new Set(streamStatuses)].map((s) => [s, streamStatuses.filter((x) => x === s).length])) }));

const t0 = performance.now();
process.stdin.setEncoding('utf8');
process.stdin.on('data', async (d: string) => {
  if (!d.includes('stop') || stopping) return;
  stopping = true;
  await Promise.all(viewers);
  const seconds = (performance.now() - t0) / 1000;
  // Streams still open at the end: none should have been dropped by the server meanwhile.
  const stillOpen = streams.filter((r) => !r.destroyed && r.socket && !r.socket.destroyed).length;
  for (const r of streams) r.destroy();
  sliceMs.sort((a, b) => a - b);
  const pct = (p: number) => Math.round(sliceMs[Math.min(sliceMs.length - 1, Math.floor(p * sliceMs.length))] * 10) / 10;
  console.log(JSON.stringify({
    seconds: Math.round(seconds * 10) / 10,
    viewers: VIEWERS,
    sliceRequests,
    slicesPerSecond: Math.round((sliceRequests / seconds) * 10) / 10,
    sliceMB: Math.round(sliceBytes / 1e5) / 10,
    sliceLatencyMs: { p50: pct(0.5), p99: pct(0.99) },
    sliceStatuses: statuses,
    streamsOpen,
    streamsOpenAtEnd: stillOpen,
  }));
  process.exit(0);
});
