// Test clients for Server-Sent Event streams: a parsing one over fetch, and a raw socket one that
// can vanish at any moment (reset, no goodbye) the way a dropped network does.
import http from 'node:http';
import net from 'node:net';

export interface SseEvent {
  event: string;
  data: any;
}

export interface EventStream {
  status: number;
  /** The JSON body of a response that is not a stream (4xx). */
  body?: any;
  events: SseEvent[];
  /** Resolves when the server ends the stream (or it is aborted). */
  ended: Promise<void>;
  abort(): void;
}

/**
 * Opens `url` on a connection of its own (node:http, no agent: aborting closes exactly that socket)
 * and collects its events; resolves once the response headers are in.
 */
export function openEvents(url: string, headers: Record<string, string> = {}): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      const events: SseEvent[] = [];
      let buffer = '';
      res.setEncoding('utf8');
      const ended = new Promise<void>((done) => {
        res.on('end', done);
        res.on('close', done);
        res.on('error', () => done());
      });
      if (!String(res.headers['content-type']).startsWith('text/event-stream')) {
        res.on('data', (d: string) => (buffer += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(buffer), events, ended, abort: () => {} }));
        return;
      }
      res.on('data', (d: string) => {
        buffer += d;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      });
      resolve({ status: res.statusCode!, events, ended, abort: () => req.destroy() });
    });
    req.on('error', (e) => {
      if (!req.destroyed || (e as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(e);
    });
  });
}

export interface RawStream {
  socket: net.Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves when `text` has been received (or rejects when the socket closes first). */
  waitFor(text: string): Promise<void>;
  /** Drops the connection with a TCP reset. */
  reset(): void;
}

/** Sends `GET path` (with `headers`, e.g. the API key) on a fresh socket and keeps what comes back. */
export function rawGet(port: number, path: string, headers: Record<string, string> = {}): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    let data = '';
    const waiters: { text: string; resolve: () => void; reject: (e: Error) => void }[] = [];
    const socket = net.connect(port, '127.0.0.1', () => {
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n${extra}\r\n`);
      resolve({
        socket,
        received: () => data,
        waitFor: (text) => (data.includes(text) ? Promise.resolve() : new Promise((res, rej) => waiters.push({ text, resolve: res, reject: rej }))),
        reset: () => socket.resetAndDestroy(),
      });
    });
    socket.on('data', (d) => {
      data += d.toString();
      for (const w of waiters.splice(0)) (data.includes(w.text) ? w.resolve : () => waiters.push(w))();
    });
    socket.on('close', () => {
      for (const w of waiters.splice(0)) w.reject(new Error(`socket closed before "${w.text}" arrived`));
    });
    socket.on('error', (e) => {
      if ((e as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(e);
    });
  });
}
