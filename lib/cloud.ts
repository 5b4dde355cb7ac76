import { activationFailure, OpenWhiskNodeError } from './errors';
import { apiFailure, qualifiedName, type OpenWhiskService } from './service';
import type { ActionInvoker, ActionRef, Activation } from './types';

export interface CloudInvokerOptions {
  /** First poll delay after a 202 (ms); doubles up to pollMaxMs. */
  pollStartMs?: number;
  pollMaxMs?: number;
  /** Give up polling after this long (ms): the longest OpenWhisk action time limit plus a margin. */
  pollLimitMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Invokes actions through the OpenWhisk REST API, blocking, following a 202 by polling the activation. */
export class CloudInvoker implements ActionInvoker {
  private closed = false;
  private readonly opts: Required<CloudInvokerOptions>;

  constructor(private readonly service: OpenWhiskService, private readonly defaultRef?: ActionRef, opts: CloudInvokerOptions = {}) {
    this.opts = { pollStartMs: 200, pollMaxMs: 2000, pollLimitMs: 6 * 60_000, ...opts };
  }

  async invoke(params: Record<string, unknown> | unknown[], ref = this.defaultRef): Promise<Activation> {
    if (!ref) throw new OpenWhiskNodeError('config', 'No action given: set one in the node or in msg.action.', { short: 'no action' });
    const fqn = qualifiedName(ref);
    let reply: unknown;
    try {
      reply = await this.service.client.actions.invoke({ name: ref.name, namespace: ref.namespace || '_', params: params as object, blocking: true } as never);
    } catch (err) {
      const e = err as { statusCode?: number; error?: { response?: unknown } };
      // A 502 carries the activation of an application or developer error.
      if (e.statusCode === 502 && e.error && typeof e.error === 'object' && e.error.response) {
        throw activationFailure(e.error as unknown as Activation, fqn);
      }
      throw apiFailure(err, `action '${fqn}'`, this.service.host);
    }
    const body = reply as Partial<Activation> & { activationId?: string };
    if (body && body.response) return this.settle(body as Activation, fqn);
    if (body && typeof body.activationId === 'string') {
      // The blocking wait ended before the action did (202): poll until the activation is stored.
      return this.settle(await this.poll(ref, body.activationId), fqn);
    }
    throw new OpenWhiskNodeError('http', `OpenWhisk at ${this.service.host} answered the invoke of '${fqn}' with neither an activation nor an activation id.`, { short: 'bad reply' });
  }

  private settle(activation: Activation, fqn: string): Activation {
    if (activation.response.success) return activation;
    throw activationFailure(activation, fqn);
  }

  private async poll(ref: ActionRef, activationId: string): Promise<Activation> {
    const fqn = qualifiedName(ref);
    const deadline = Date.now() + this.opts.pollLimitMs;
    let delay = this.opts.pollStartMs;
    while (!this.closed) {
      await sleep(delay);
      try {
        return (await this.service.client.activations.get({ name: activationId, namespace: ref.namespace || '_' } as never)) as unknown as Activation;
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        if (status !== 404) throw apiFailure(err, `activation ${activationId} of '${fqn}'`, this.service.host);
      }
      if (Date.now() > deadline) {
        throw new OpenWhiskNodeError('timeout', `Activation ${activationId} of '${fqn}' did not complete within ${Math.round(this.opts.pollLimitMs / 1000)} s.`, { short: 'timeout' });
      }
      delay = Math.min(delay * 2, this.opts.pollMaxMs);
    }
    throw new OpenWhiskNodeError('config', `Stopped waiting for activation ${activationId} of '${fqn}': the node was closed.`, { short: 'closed' });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
