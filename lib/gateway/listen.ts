import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { GatewayApi } from './api';

/**
 * The API's own HTTP listener, beside the path on Node-RED's server: a bare node:http server whose
 * only handler is the API (no Express router, no httpNode middleware, body parsers or static files
 * in front of it), so a request costs little more than Node's own HTTP parsing. The API answers at
 * the root, as an OpenWhisk host does: `--apihost http://127.0.0.1:3233`.
 */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Most connections the listener keeps open at once (each idle keep-alive socket counts). */
const FIRST_BYTE_MS = 10000;
const MAX_CONNECTIONS = 512;

/**
 * "[host:]port": a port alone binds 127.0.0.1 (this machine only); "0.0.0.0:3233" or another address
 * opens it to the network, "[::1]:3233" for IPv6. Empty means no listener of its own.
 */
export function parseListen(text: string | undefined): ListenAddress | undefined {
  const s = (text ?? '').trim();
  if (s === '') return undefined;
  const m = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`the API's own port '${text}' must be a port (1-65535), or host:port (e.g. 127.0.0.1:3233, 0.0.0.0:3233, [::1]:3233)`);
  }
  return { host: m[1] ? m[1].replace(/^\[|\]$/g, '') : '127.0.0.1', port };
}

export interface GatewayListener {
  readonly address: ListenAddress;
  /** Stops listening and closes every connection (running requests are cut off). */
  close(): Promise<void>;
}

/** Listens for `api` at `at`; rejects with a readable error when the port is taken. */
export function listenGateway(api: GatewayApi, at: ListenAddress, bounds: { firstByteMs?: number } = {}): Promise<GatewayListener> {
  const firstByteMs = bounds.firstByteMs ?? FIRST_BYTE_MS;
  const server = http.createServer({
    keepAlive: true,
    noDelay: true,
    // Bounded waits for slow or idle clients: headers, the whole request (the body has its own bound
    // in the API), idle keep-alive sockets.
    headersTimeout: 10000,
    requestTimeout: 30000,
    keepAliveTimeout: 5000,
    maxHeaderSize: 16384,
  });
  server.maxConnections = MAX_CONNECTIONS;
  // headersTimeout starts with a request's first byte: a connection that sends nothing would hold one
  // of the connections forever, without a key. Its first request's head must come within firstByteMs
  // (10 s). Cleared at that request, not with a 'data' listener: one on the socket would take the
  // HTTP parser off its native read path (node:http then feeds it from JavaScript, every request).
  const silent = new WeakMap<Socket, NodeJS.Timeout>();
  server.on('connection', (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), firstByteMs);
    timer.unref();
    silent.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  });
  server.on('request', (req, res) => {
    const timer = silent.get(req.socket);
    if (timer) {
      clearTimeout(timer);
      silent.delete(req.socket);
    }
    void api.handle(req, res, req.url ?? '/');
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'the port is in use'
          : err.code === 'EADDRNOTAVAIL'
            ? 'no such local address'
            : err.code === 'EACCES'
              ? 'permission denied'
              : err.message;
      reject(new Error(`cannot listen on ${at.host}:${at.port}: ${why}`));
    };
    server.once('error', failed);
    server.listen(at.port, at.host, () => {
      server.off('error', failed);
      const a = server.address() as AddressInfo;
      resolve({
        address: { host: a.address, port: a.port },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
