// What one action container is made of, on Docker's side: what it needs from its runtime
// (ContainerEnv), what is fixed per action (ContainerPlan), its name, its HostConfig, where it is
// reached once started, and how Docker says a network is missing. container.ts (the lifecycle) uses
// these; nothing here keeps state.

import type http from 'node:http';
import type Docker from 'dockerode';
import { OpenWhiskNodeError } from '../errors';
import { bounded, dockerMessage, dockerStatus, translateDockerError, type DockerTarget } from './docker';
import type { ActionContainer } from './container';
import type { ContainerLimits, ProtocolPlan } from './proxy-client';
import { ISOLATION_NETWORK } from './options';

/** Where containers run: the Docker client and how containers are reached (engine.ts fills it in at start). */
export interface DockerContext {
  readonly api: Docker;
  readonly target: DockerTarget;
  readonly agent: http.Agent;
  /** '' → publish 8080 on `publishIp` with a random host port; else join this network and use the container IP. */
  readonly network: string;
  /**
   * With no network: the bridge network the containers join (one with inter-container traffic off,
   * so an action cannot reach another action's container), or '' for Docker's default bridge.
   */
  readonly isolationNetwork: string;
  /** The isolation network went away (removed by hand): find or create it again, and update isolationNetwork. */
  renewIsolation(): Promise<void>;
  readonly publishIp: string;
  /** Host to connect to for a published port. */
  readonly connectHost: string;
  /** The daemon keeps containers running while it is down (live-restore): a lost log stream is not a lost container. */
  readonly liveRestore: boolean;
}

/** What a container reports to, and asks of, the engine's health (health.ts). */
export interface ContainerHealth {
  /** Set while the engine cannot be reached: what work needing Docker fails with. */
  readonly downError: OpenWhiskNodeError | undefined;
  /** Ping the engine on a fresh connection; false (and the engine marked down) when it cannot be reached. */
  reachable(): Promise<boolean>;
  /** A Docker call failed: the engine may be down, or out of room. */
  noteFailure(err: unknown): void;
  /** A container started: the engine works. */
  noteSuccess(): void;
}

/** The engine's list of the containers it created (removed on close, swept after an outage). */
export interface ContainerRegistry {
  readonly closed: boolean;
  track(c: ActionContainer): void;
  untrack(c: ActionContainer): void;
  /**
   * A create call is on its way to Docker: the container may exist before the engine hears of it,
   * so closing waits for the answer and then sweeps (a Node-RED stopping must not leave it behind).
   */
  creation<T>(call: Promise<T>): Promise<T>;
  /** A number for the next container's name. */
  nextSeq(): number;
  /** Removing this container failed (engine down?): try again later. */
  removalFailed(c: ActionContainer): void;
}

/** Everything a container needs from its runtime, as four narrow parts. */
export interface ContainerEnv {
  readonly docker: DockerContext;
  readonly health: ContainerHealth;
  readonly registry: ContainerRegistry;
  readonly limits: ContainerLimits;
}

/** Everything fixed per provisioned action, computed once (what the protocol needs, plus Docker's part). */
export interface ContainerPlan extends ProtocolPlan {
  nodeId: string;
  kind: string;
  labels: Record<string, string>;
  env: string[];
  /** Docker CPU shares (proportional to memory, as the invoker gives them). */
  cpuShares: number;
  /**
   * Its image keeps our runtimes' contract (images.ts STEM_CELL_SAFE_LABEL): it may wait as a stem
   * cell (cells.ts keeps none otherwise), and runs with a read-only root and a bounded /tmp.
   */
  cellSafe?: boolean;
}

const MAX_NAME_PART = 60;
/** Bound on inspecting a container whose stream or connection was lost. */
export const INSPECT_BOUND_MS = 5000;

export function containerName(nodeId: string, actionPath: string, seq: number): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');
  return `leon_${clean(nodeId).slice(0, MAX_NAME_PART)}_${clean(actionPath).slice(0, MAX_NAME_PART)}_${seq}`;
}

/** The container's limits, confinement and network, as Docker's HostConfig. */
export function hostConfigOf(plan: ContainerPlan, docker: DockerContext): Docker.HostConfig {
  const mem = Math.round(plan.limits.memory) * 1024 * 1024;
  const hostConfig: Docker.HostConfig = {
    Memory: mem,
    MemorySwap: mem,
    CpuShares: plan.cpuShares,
    CapDrop: ['NET_RAW', 'NET_ADMIN'],
    PidsLimit: 1024,
    Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 1024 }],
    LogConfig: { Type: 'json-file', Config: { 'max-size': `${Math.max(1, Math.ceil(plan.limits.logs))}m`, 'max-file': '1' } },
    // No setuid way back to privileges the container was started without.
    SecurityOpt: ['no-new-privileges'],
  };
  if (plan.cellSafe) {
    // Our runtimes write only under /tmp (images.ts STEM_CELL_SAFE_LABEL): a read-only root, and a
    // /tmp in memory the size of the action's memory limit (its pages count against that limit), so
    // action code cannot fill the Docker host's disk.
    hostConfig.ReadonlyRootfs = true;
    hostConfig.Tmpfs = { '/tmp': `rw,nosuid,nodev,size=${Math.round(plan.limits.memory)}m` };
  }
  if (docker.network) hostConfig.NetworkMode = docker.network;
  else {
    if (docker.isolationNetwork) hostConfig.NetworkMode = docker.isolationNetwork;
    hostConfig.PortBindings = { '8080/tcp': [{ HostIp: docker.publishIp, HostPort: '' }] };
  }
  return hostConfig;
}

/**
 * Create the Docker container of `plan` (not started): its id and name. A name in use (a container
 * of another Node-RED process with the same flow) or an isolation network gone meanwhile: tried again,
 * at most three times. `check` throws once the launch was cancelled or the runtime closed.
 */
export async function createContainer(h: ContainerEnv, plan: ContainerPlan, check: () => void): Promise<{ id: string; name: string }> {
  const hostConfig = hostConfigOf(plan, h.docker);
  let name = containerName(plan.nodeId, plan.id.path, h.registry.nextSeq());
  for (let attempt = 0; ; attempt++) {
    check();
    if (!h.docker.network && h.docker.isolationNetwork) hostConfig.NetworkMode = h.docker.isolationNetwork;
    try {
      const created = await bounded(
        (abortSignal) =>
          h.registry.creation(
            h.docker.api.createContainer({
              name,
              Image: plan.image,
              Env: plan.env,
              Labels: plan.labels,
              Tty: false,
              OpenStdin: false,
              AttachStdin: false,
              AttachStdout: true,
              AttachStderr: true,
              ExposedPorts: { '8080/tcp': {} },
              HostConfig: hostConfig,
              abortSignal,
            }),
          ),
        h.limits.startTimeout,
        h.docker.target,
        `creating a container for ${plan.id.qualified}`,
      );
      return { id: created.id, name };
    } catch (err) {
      if (dockerStatus(err) === 409 && attempt < 3) {
        // Name in use (a container of another Node-RED process with the same flow): pick another.
        name = `${containerName(plan.nodeId, plan.id.path, h.registry.nextSeq())}_${Math.random().toString(16).slice(2, 8)}`;
        continue;
      }
      if (isolationGone(h.docker, err) && attempt < 3) {
        await h.docker.renewIsolation();
        continue;
      }
      const missing = missingNetwork(h.docker, err);
      if (missing) throw missing;
      throw translateDockerError(err, h.docker.target, `creating a container for ${plan.id.qualified} from image '${plan.image}'`);
    }
  }
}

/** What a failed launch or hand-over rejects with: a container that died while starting because the engine went away fails as 'unreachable'. */
export async function launchFailure(health: ContainerHealth, err: unknown): Promise<unknown> {
  const e = err instanceof OpenWhiskNodeError ? err : undefined;
  if (e?.code === 'unreachable') {
    health.noteFailure(e);
    return health.downError ?? e;
  }
  if (e && e.reason !== 'closed' && e.code !== 'config' && !(await health.reachable())) return health.downError ?? e;
  health.noteFailure(err);
  return err;
}

/** Rename a container (a stem cell handed over); whether Docker did (a name in use or a slow engine: no matter, the pool knows which action it runs). */
export function renameContainer(h: ContainerEnv, id: string, name: string, label: string): Promise<boolean> {
  return bounded(
    (abortSignal) => h.docker.api.getContainer(id).rename({ name, abortSignal }),
    h.limits.startTimeout,
    h.docker.target,
    `renaming ${label}`,
  ).then(
    () => true,
    () => false,
  );
}

/** How a stopped container exited, for an error message: " (exit code 1, killed: out of memory)", or '' when it cannot be inspected. */
export async function exitState(h: ContainerEnv, id: string, label: string): Promise<string> {
  try {
    const info = await bounded(
      (abortSignal) => h.docker.api.getContainer(id).inspect({ abortSignal }),
      INSPECT_BOUND_MS,
      h.docker.target,
      `inspecting ${label}`,
    );
    const s = info.State;
    return s ? ` (exit code ${s.ExitCode}${s.OOMKilled ? ', killed: out of memory' : ''}${s.Error ? `, ${s.Error}` : ''})` : '';
  } catch {
    return ''; // gone already
  }
}

/**
 * Where a started container's proxy is reached, from its inspection: its IP on the runtime's Docker
 * network, or the host port Docker published. `port` 0: no port was published (it did not start, or Docker failed).
 */
export function addressOf(info: Docker.ContainerInspectInfo, docker: DockerContext, label: string): { host: string; port: number } {
  if (docker.network) {
    const host = info.NetworkSettings?.Networks?.[docker.network]?.IPAddress ?? '';
    if (!host) {
      throw new OpenWhiskNodeError(
        'docker',
        `${label} has no IP address on Docker network '${docker.network}' (network mode ${info.HostConfig?.NetworkMode}). ` +
          `Use a user-defined bridge network, or clear the network in the runtime config.`,
        { short: 'no container IP' },
      );
    }
    return { host, port: 8080 };
  }
  const binding = info.NetworkSettings?.Ports?.['8080/tcp']?.[0];
  return { host: docker.connectHost, port: Number(binding?.HostPort ?? 0) };
}

/**
 * The isolation network this container names is gone (someone removed it), or ambiguous: another
 * process created a duplicate a moment ago (engines before Docker 25 resolve a container's networks
 * by name at start) that its reconciliation has not removed yet. Found or made again, then one more try.
 */
export function isolationGone(docker: DockerContext, err: unknown): boolean {
  const cause = err instanceof OpenWhiskNodeError ? err.cause : err;
  return Boolean(docker.isolationNetwork) && !docker.network && (networkGone(cause) || networkAmbiguous(cause));
}

/** Docker says "network X not found" (at create or at start, depending on the engine version). */
export function missingNetwork(docker: DockerContext, err: unknown): OpenWhiskNodeError | undefined {
  if (!docker.network || !networkGone(err)) return undefined;
  return new OpenWhiskNodeError(
    'config',
    `Docker network '${docker.network}' does not exist on ${docker.target.description}: create it (docker network create ${docker.network}), ` +
      `or clear the network in the runtime config to reach containers through a port published on ${docker.publishIp}.`,
    { short: 'no network', cause: err },
  );
}

/** Docker says a network the container names does not exist. */
function networkGone(err: unknown): boolean {
  return dockerStatus(err) === 404 && /network/i.test(dockerMessage(err));
}

/** "network leon-openwhisk-isolated is ambiguous (2 matches found on name)". */
function networkAmbiguous(err: unknown): boolean {
  return new RegExp(`network ${ISOLATION_NETWORK} is ambiguous`, 'i').test(dockerMessage(err));
}
