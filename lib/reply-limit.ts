// Bounds on what an OpenWhisk API host may send back. The `openwhisk` client (apache/openwhisk-client-js)
// reads replies with needle, which buffers a whole body before parsing it and inflates any body that
// says it is compressed, asked for or not. An API host is the user's to choose, but a wrong URL, a
// proxy or a hostile host must not be able to fill Node-RED's memory. So the client gets an HTTP agent
// whose sockets count the bytes of each reply and drop the connection past a limit, and refuse a reply
// whose head says its body is compressed (the client never asks for compression; a small gzip body can
// inflate to gigabytes).

import * as http from 'node:http';
import * as https from 'node:https';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export type RefusedReason = 'size' | 'encoding';

/** A reply dropped by the bound (service.ts apiFailure names it). */
export class ReplyRefused extends Error {
  /**
   * The `openwhisk` client wraps a transport failure in an OpenWhiskError whose `error` is the
   * failure's own `error` field: pointing it at this instance keeps the reason through the wrap.
   */
  readonly error: ReplyRefused;

  constructor(
    readonly reason: RefusedReason,
    readonly limitBytes: number,
  ) {
    super(reason === 'size' ? `the reply is larger than ${limitBytes} bytes` : 'the reply is compressed, which was not asked for');
    this.name = 'ReplyRefused';
    this.error = this;
  }
}

/** The ReplyRefused inside an `openwhisk` client failure, if that is what it was. */
export function replyRefused(err: unknown): ReplyRefused | undefined {
  if (err instanceof ReplyRefused) return err;
  if (typeof err === 'object' && err !== null && 'error' in err && err.error instanceof ReplyRefused) return err.error;
  return undefined;
}

const HEAD_END = Buffer.from('\r\n\r\n');
/** How long a kept-alive socket to the API host may sit unused (Node's agent then closes it). */
const IDLE_MS = 30000;
/** Node's HTTP parser refuses longer heads itself (--max-http-header-size, 16 KB by default). */
const MAX_HEAD = 64 * 1024;
const COMPRESSED = /\r\ncontent-encoding:[ \t]*(?!identity[ \t]*\r\n)[^\r\n]/i;

/** Per socket and per reply: bytes seen, and the head while it is still coming in. */
class ReplyWatch {
  private bytes = 0;
  private head: Buffer | null = Buffer.alloc(0);
  /** A request has the socket (between its assignment and the agent's 'free'). */
  busy = false;

  constructor(
    private readonly socket: Duplex,
    private readonly limitBytes: number,
  ) {}

  /** A request was given the socket: its reply starts afresh. */
  assign(): void {
    this.busy = true;
    this.bytes = 0;
    this.head = Buffer.alloc(0);
  }

  onData(chunk: Buffer): void {
    if (!this.busy) {
      // Bytes on an idle kept-alive socket belong to no request (Node's parser ignores them, and they
      // would be taken for the next reply's head here): the host is not speaking HTTP.
      this.socket.destroy();
      return;
    }
    this.bytes += chunk.length;
    if (this.bytes > this.limitBytes) {
      this.socket.destroy(new ReplyRefused('size', this.limitBytes));
      return;
    }
    if (this.head) this.scanHead(chunk);
  }

  private scanHead(chunk: Buffer): void {
    let head: Buffer = Buffer.concat([this.head ?? Buffer.alloc(0), chunk]);
    for (;;) {
      const end = head.indexOf(HEAD_END);
      if (end < 0) {
        this.head = head.length > MAX_HEAD ? null : head;
        return;
      }
      const text = head.subarray(0, end + 2).toString('latin1');
      if (COMPRESSED.test(text)) {
        this.socket.destroy(new ReplyRefused('encoding', this.limitBytes));
        return;
      }
      // An informational reply (100 Continue) is followed by the real head.
      if (!/^HTTP\/\d\.\d 1\d\d[ \r]/.test(text)) {
        this.head = null;
        return;
      }
      head = head.subarray(end + HEAD_END.length);
    }
  }
}

/**
 * A keep-alive agent for apiUrl's protocol whose replies are bounded by limitBytes each (head and
 * body as sent, before any decoding).
 */
export function boundedAgent(apiUrl: string, limitBytes: number, idleMs = IDLE_MS): http.Agent {
  const agent = new URL(apiUrl).protocol === 'http:' ? new http.Agent({ keepAlive: true }) : new https.Agent({ keepAlive: true });
  const watches = new WeakMap<Duplex, ReplyWatch>();
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (options, callback) => {
    const socket = create(options, callback);
    if (socket) {
      const watch = new ReplyWatch(socket, limitBytes);
      watches.set(socket, watch);
      socket.on('data', (chunk: Buffer) => watch.onData(chunk));
    }
    return socket;
  };
  // Each request's socket, new or reused, starts a fresh count; a socket back in the pool is idle
  // and closed after idleMs (30 s; Node's agent keeps free sockets open as long as the host does).
  const addRequest = agent.addRequest.bind(agent);
  agent.addRequest = (req: http.ClientRequest, options: http.RequestOptions) => {
    req.once('socket', (socket: Duplex) => {
      watches.get(socket)?.assign();
      if (socket instanceof Socket) socket.setTimeout(0);
    });
    addRequest(req, options);
  };
  agent.on('free', (socket: Duplex) => {
    const watch = watches.get(socket);
    if (watch) watch.busy = false;
    if (socket instanceof Socket) socket.setTimeout(idleMs);
  });
  return agent;
}
