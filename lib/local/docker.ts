// Docker engine access: address parsing, error translation into clear OpenWhiskNodeErrors, and
// "pull only when absent" image handling with a platform check.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Docker from 'dockerode';
import { OpenWhiskNodeError, SHORT_OF_REASON, type Reason } from '../errors';

export interface DockerTarget {
  /** Options for new Docker(...). */
  options: Docker.DockerOptions;
  /** Human-readable address for messages, e.g. "unix:///var/run/docker.sock". */
  description: string;
  /** Host name of a remote engine (tcp/http/https/ssh, not loopback); undefined for a local engine. */
  remoteHost?: string;
  /** Socket path, when talking over a Unix socket / named pipe. */
  socketPath?: string;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]', '']);

function fromUrl(spec: string, env: NodeJS.ProcessEnv): DockerTarget {
  let u: URL;
  try {
    u = new URL(spec.includes('//') ? spec : `tcp://${spec}`);
  } catch {
    throw new OpenWhiskNodeError(
      'config',
      `Invalid Docker engine address '${spec}': use '' (DOCKER_HOST or the default socket), unix:///path/docker.sock, tcp://host:2375 or https://host:2376.`,
      { short: 'bad docker address' },
    );
  }
  const scheme = u.protocol.replace(/:$/, '');
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const remoteHost = LOOPBACK.has(host) ? undefined : host;
  if (scheme === 'unix' || scheme === 'npipe') {
    const socketPath = scheme === 'unix' ? decodeURIComponent(u.pathname) : spec.slice('npipe://'.length);
    return { options: { socketPath, host: undefined }, description: spec, socketPath };
  }
  if (scheme === 'tcp' || scheme === 'http' || scheme === 'https') {
    const tls = scheme === 'https' || env.DOCKER_TLS_VERIFY === '1' || u.port === '2376';
    const options: Docker.DockerOptions = {
      host,
      port: u.port ? Number(u.port) : tls ? 2376 : 2375,
      protocol: tls ? 'https' : 'http',
      socketPath: undefined,
    };
    if (tls && env.DOCKER_CERT_PATH) {
      const p = env.DOCKER_CERT_PATH;
      try {
        options.ca = fs.readFileSync(path.join(p, 'ca.pem'));
        options.cert = fs.readFileSync(path.join(p, 'cert.pem'));
        options.key = fs.readFileSync(path.join(p, 'key.pem'));
      } catch (e) {
        throw new OpenWhiskNodeError('config', `Cannot read the Docker TLS certificates in DOCKER_CERT_PATH=${p}: ${(e as Error).message}`, {
          short: 'docker TLS',
          cause: e,
        });
      }
    }
    return { options, description: `${tls ? 'https' : 'tcp'}://${u.host}`, remoteHost };
  }
  if (scheme === 'ssh') {
    return {
      options: {
        protocol: 'ssh',
        host,
        port: u.port ? Number(u.port) : 22,
        username: u.username || undefined,
        socketPath: undefined,
        sshOptions: { agent: env.SSH_AUTH_SOCK },
      } as Docker.DockerOptions,
      description: spec,
      remoteHost,
    };
  }
  throw new OpenWhiskNodeError(
    'config',
    `Unsupported Docker engine address '${spec}': use unix:///path/docker.sock, tcp://host:2375, https://host:2376 or ssh://user@host.`,
    { short: 'bad docker address' },
  );
}

/**
 * '' → DOCKER_HOST or the default socket (as the docker CLI); 'unix:///path' or '/path' → that socket;
 * 'tcp://host:2375', 'http://…', 'https://…' (TLS certs from DOCKER_CERT_PATH), 'ssh://user@host'.
 */
export function parseDockerTarget(spec: string | undefined, env: NodeJS.ProcessEnv = process.env): DockerTarget {
  const s = (spec ?? '').trim();
  if (s === '') {
    const dh = (env.DOCKER_HOST ?? '').trim();
    if (dh === '') {
      return { options: {}, description: 'unix:///var/run/docker.sock (default)', socketPath: '/var/run/docker.sock' };
    }
    const t = fromUrl(dh, env);
    // Let docker-modem apply DOCKER_HOST itself (it also knows DOCKER_PATH_PREFIX etc.).
    return { ...t, options: {}, description: `${t.description} (DOCKER_HOST)` };
  }
  if (s.startsWith('/')) return { options: { socketPath: s, host: undefined }, description: `unix://${s}`, socketPath: s };
  return fromUrl(s, env);
}

export function createDocker(target: DockerTarget): Docker {
  return new Docker(target.options);
}

/**
 * A client that opens a new connection per call, for health probes: a dying dockerd closes its
 * listening socket first but keeps answering on connections already open, so a kept-alive client
 * would report it healthy for seconds after it stopped taking new ones. Only for a Unix socket or
 * plain http (a TLS or ssh target keeps its own agent; then the regular client is returned).
 */
export function createProbeDocker(target: DockerTarget, fallback: Docker): Docker {
  const o = target.options;
  if (!target.socketPath && o.protocol !== 'http') return fallback;
  return new Docker({ ...o, agent: new http.Agent({ keepAlive: false }) } as Docker.DockerOptions);
}

interface DockerishError {
  code?: string;
  statusCode?: number;
  reason?: string;
  message?: string;
  json?: unknown;
  errno?: number;
  address?: string;
}

/** The daemon's own message of a dockerode error ("(HTTP code 409) … - <message>"). */
export function dockerMessage(err: unknown): string {
  const e = (err ?? {}) as DockerishError;
  const j = e.json as { message?: unknown } | string | undefined;
  if (j && typeof j === 'object' && typeof j.message === 'string') return j.message.trim();
  if (typeof j === 'string' && j.trim()) return j.trim();
  if (Buffer.isBuffer(j)) return j.toString('utf8').trim();
  return String(e.message ?? err).trim();
}

export function dockerStatus(err: unknown): number | undefined {
  const s = (err as DockerishError | undefined)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

export interface NoRoom {
  reason: Reason;
  /** Short text for a status ring (derived from the reason). */
  short: string;
  /** What runs out, for the message. */
  what: string;
  /** What to do about it. */
  todo: string;
}

/**
 * Docker refused a container because the host has no room: disk, memory, processes. Matches the
 * daemon's and the kernel's own words (create: "mkdir …: no space left on device", start: "OCI runtime
 * create failed: … cannot allocate memory", fork: "resource temporarily unavailable").
 */
export function noRoom(message: string): NoRoom | undefined {
  if (/no space left on device|disk quota exceeded|ENOSPC/i.test(message)) {
    return {
      reason: 'no-disk',
      short: SHORT_OF_REASON['no-disk'],
      what: 'has no disk space left',
      todo:
        "Free disk space on the Docker host (docker system prune removes stopped containers and unused images; df -h shows Docker's data root), " +
        'then send the message again.',
    };
  }
  if (/cannot allocate memory|out of memory|ENOMEM/i.test(message)) {
    return {
      reason: 'no-memory',
      short: SHORT_OF_REASON['no-memory'],
      what: 'is out of memory',
      todo:
        "Lower the runtime's capacity or the actions' memory limits, or stop other containers or programs on the gateway, " + 'then send the message again.',
    };
  }
  if (/resource temporarily unavailable|EAGAIN|too many open files|EMFILE/i.test(message)) {
    return {
      reason: 'no-processes',
      short: SHORT_OF_REASON['no-processes'],
      what: 'cannot start more processes',
      todo: "Lower the runtime's capacity, or raise the host's process / open file limits, then send the message again.",
    };
  }
  return undefined;
}

const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE']);

/** Turn any error from dockerode into an OpenWhiskNodeError that says what to do. */
export function translateDockerError(err: unknown, target: DockerTarget, doing: string): OpenWhiskNodeError {
  if (err instanceof OpenWhiskNodeError) return err;
  const e = (err ?? {}) as DockerishError;
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code === 'EACCES' || code === 'EPERM') {
    return new OpenWhiskNodeError(
      'docker',
      `Permission denied on the Docker engine socket ${target.description} (${code}) while ${doing}: ` +
        `add the user that runs Node-RED to the 'docker' group (sudo usermod -aG docker <user>, then restart Node-RED in a new login session) ` +
        `or configure another Docker engine address in the runtime config.`,
      { reason: 'permission', cause: err },
    );
  }
  if (code && UNREACHABLE.has(code)) {
    const hint = code === 'ENOENT' && target.socketPath ? ` (no socket at ${target.socketPath})` : '';
    return new OpenWhiskNodeError(
      'unreachable',
      `Cannot reach the Docker engine at ${target.description}${hint}: ${e.message ?? code}. Is dockerd running? ` +
        `Check the Docker address in the runtime config (empty = DOCKER_HOST or the default socket).`,
      { reason: 'docker-unreachable', cause: err },
    );
  }
  const msg = dockerMessage(err);
  const room = noRoom(msg);
  if (room) {
    return new OpenWhiskNodeError('docker', `The Docker host at ${target.description} ${room.what}: Docker refused ${doing}: ${msg}. ${room.todo}`, {
      reason: room.reason,
      cause: err,
      statusCode: dockerStatus(err),
    });
  }
  if (/port is already allocated|address already in use/i.test(msg)) {
    return new OpenWhiskNodeError(
      'docker',
      `Port conflict while ${doing}: ${msg}. Another process holds the host port Docker chose; retry the deploy, ` +
        `or set a Docker network in the runtime config so containers are reached by IP without published ports.`,
      { reason: 'port-in-use', cause: err, statusCode: dockerStatus(err) },
    );
  }
  return new OpenWhiskNodeError('docker', `Docker engine at ${target.description} failed while ${doing}: ${msg}`, {
    short: 'docker error',
    cause: err,
    statusCode: dockerStatus(err),
  });
}

/**
 * Bound a Docker API call and cancel it there: `call` gets the signal to pass as dockerode's
 * `abortSignal` option, which aborts the HTTP request (and closes its connection) at the bound, so a
 * hanging dockerd keeps no request or socket of ours. (docker-modem has no per-call timeout that
 * would not also cut long-lived attach streams.) Rejects with an 'unreachable' error naming the
 * engine and what was being done.
 */
export function bounded<T>(call: (abortSignal: AbortSignal) => Promise<T>, ms: number, target: DockerTarget, doing: string): Promise<T> {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new OpenWhiskNodeError(
          'unreachable',
          `The Docker engine at ${target.description} did not answer within ${ms} ms while ${doing}. Is dockerd running and healthy?`,
          { reason: 'docker-timeout' },
        ),
      );
      ctl.abort();
    }, ms);
    timer.unref();
  });
  let p: Promise<T>;
  try {
    p = call(ctl.signal);
  } catch (err) {
    clearTimeout(timer);
    return Promise.reject(err);
  }
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The options dockerode 5 reads for ping, version and info. */
interface SignalOption {
  abortSignal?: AbortSignal;
}

/** ping, version and info of a dockerode client, with their options. */
export interface EngineQueries {
  ping(options: SignalOption): Promise<unknown>;
  version(options: SignalOption): Promise<Docker.DockerVersion>;
  info(options: SignalOption): Promise<Record<string, unknown>>;
}

/**
 * dockerode 5 takes `abortSignal` in the options of ping, version and info as in those of its other
 * calls (lib/docker.js); @types/dockerode, written for dockerode 4, declares these three without options.
 */
export function engineQueries(docker: Docker): EngineQueries {
  return docker as unknown as EngineQueries;
}

const INSPECT_BOUND_MS = 30000;

export interface EnginePlatform {
  os: string;
  arch: string;
}

/** "aarch64"/"arm64", "x86_64"/"amd64": compare the way Docker names them. */
export function normaliseArch(a: string | undefined): string {
  const s = (a ?? '').toLowerCase();
  if (s === 'x86_64' || s === 'x64') return 'amd64';
  if (s === 'aarch64') return 'arm64';
  if (s === 'armhf' || s === 'armv7l' || s === 'armv7') return 'arm';
  return s;
}

export type PullProgress = (detail: string) => void;

/**
 * Make sure `image` exists on the engine: inspect, pull only when absent, then check that it was
 * built for the engine's platform. `kind` is named in error messages ("set an image override for kind X").
 */
export async function ensureImage(
  docker: Docker,
  target: DockerTarget,
  image: string,
  kind: string,
  platform: EnginePlatform,
  onPull?: PullProgress,
  /** What to do instead, when this package builds an image for the kind (replaces the generic advice). */
  ownImageHint?: string,
): Promise<Docker.ImageInspectInfo> {
  const what = kind === 'blackbox' ? `the blackbox action's image` : `kind '${kind}'`;
  const todo =
    kind === 'blackbox'
      ? `Build or load the image on this Docker host (docker build -t ${image} … / docker load), or fix the action's image name.`
      : (ownImageHint ??
        `Build or load it on this Docker host (docker build -t ${image} … / docker load), or set an image override in the runtime config for kind '${kind}'.`);
  let info: Docker.ImageInspectInfo | undefined;
  // dockerode 5's Image.inspect takes no abortSignal: these two calls are bounded, not cancelled.
  try {
    info = await bounded(() => docker.getImage(image).inspect(), INSPECT_BOUND_MS, target, `inspecting image '${image}'`);
  } catch (err) {
    if (dockerStatus(err) !== 404) throw translateDockerError(err, target, `inspecting image '${image}'`);
  }
  if (!info) {
    if (onPull) onPull(`pulling ${image}`);
    try {
      await pull(docker, image, onPull);
      info = await bounded(() => docker.getImage(image).inspect(), INSPECT_BOUND_MS, target, `inspecting image '${image}'`);
    } catch (err) {
      const t = translateDockerError(err, target, `pulling image '${image}'`);
      if (t.code === 'unreachable' || t.reason === 'permission') throw t;
      throw new OpenWhiskNodeError(
        'docker',
        `Failed to pull container image '${image}' for ${what}: ${dockerMessage(err)}. The image is not on this Docker host. ${todo}`,
        { short: 'image missing', cause: err },
      );
    }
  }
  const os = (info.Os ?? '').toLowerCase();
  const arch = normaliseArch(info.Architecture);
  if ((os && platform.os && os !== platform.os.toLowerCase()) || (arch && platform.arch && arch !== normaliseArch(platform.arch))) {
    throw new OpenWhiskNodeError(
      'docker',
      `Image '${image}' for ${what} is built for ${os || '?'}/${arch || '?'} but the Docker engine runs ${platform.os}/${normaliseArch(platform.arch)}. ` +
        `Build the runtime image for this platform (e.g. on this host) and set an image override in the runtime config for kind '${kind}'.`,
      { short: 'image platform' },
    );
  }
  return info;
}

/** Whether the engine has `image`, built for its platform (no pull). An unreachable engine answers false. */
export async function hasImage(docker: Docker, target: DockerTarget, image: string, platform: EnginePlatform): Promise<boolean> {
  let info: Docker.ImageInspectInfo;
  try {
    info = await bounded(() => docker.getImage(image).inspect(), INSPECT_BOUND_MS, target, `inspecting image '${image}'`);
  } catch {
    return false;
  }
  const os = (info.Os ?? '').toLowerCase();
  const arch = normaliseArch(info.Architecture);
  return !((os && platform.os && os !== platform.os.toLowerCase()) || (arch && platform.arch && arch !== normaliseArch(platform.arch)));
}

/** A pull may take minutes on a slow link, but not minutes without any progress. */
const PULL_STALL_MS = 120000;

function pull(docker: Docker, image: string, onPull?: PullProgress): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false;
    let stall: NodeJS.Timeout | undefined;
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(stall);
      if (err) reject(err);
      else resolve();
    };
    const alive = () => {
      clearTimeout(stall);
      stall = setTimeout(
        () => finish(new Error(`no progress pulling ${image} for ${PULL_STALL_MS / 1000} s (registry unreachable or stalled?)`)),
        PULL_STALL_MS,
      );
      stall.unref();
    };
    alive();
    docker.pull(image, (err: unknown, stream: NodeJS.ReadableStream) => {
      if (err) return finish(err);
      let lastReport = 0;
      docker.modem.followProgress(
        stream,
        (e: Error | null, events: Array<{ error?: string; errorDetail?: { message?: string } }>) => {
          if (e) return finish(e);
          const bad = (events ?? []).find((ev) => ev && (ev.error || ev.errorDetail));
          if (bad) return finish(new Error(bad.errorDetail?.message ?? bad.error));
          finish();
        },
        (ev: { status?: string; progress?: string; id?: string }) => {
          alive();
          const now = Date.now();
          if (!onPull || now - lastReport < 500) return;
          lastReport = now;
          onPull(`pulling ${image}: ${[ev.id, ev.status, ev.progress].filter(Boolean).join(' ')}`.slice(0, 200));
        },
      );
    });
  });
}
