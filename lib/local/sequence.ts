// A sequence run locally with the platform's semantics (apache/openwhisk, the controller's
// SequenceActions.scala): the payload goes to the first component only, each component's result is
// the next one's input (merged over that component's own parameters), execution stops at the first
// component that fails or returns an error. The sequence's activation lists the component
// activation ids as its logs and carries the last component's response.

import { OpenWhiskNodeError, activationFailure } from '../errors';
import type { ActionRef, Activation, CloseOptions, KeyValue } from '../types';
import type { LocalAction } from './action';
import { newActivationId, type ActionIdentity } from './protocol';

const COMPONENTS = Symbol('components');

/**
 * The activations of a sequence's components, in order, each with `cause` = the sequence's
 * activation id (and a nested sequence's own components after it): what the platform stores beside
 * a sequence's record, so that the ids in its `logs` can be looked up. Empty for any other activation.
 * Kept off the JSON form: a flow's msg.data carries the sequence's record only.
 */
export function componentActivations(a: Activation): Activation[] {
  const own = (a as Activation & { [COMPONENTS]?: Activation[] })[COMPONENTS] ?? [];
  return own.flatMap((c) => [{ ...c, cause: a.activationId }, ...componentActivations(c)]);
}

export class SequenceAction implements LocalAction {
  readonly kind = 'sequence';
  readonly image = undefined;
  readonly name: string;
  private closing?: Promise<void>;
  private closed = false;

  constructor(
    private readonly id: ActionIdentity,
    private readonly timeout: number,
    private readonly logsLimit: number,
    /** One entry per component position (the same LocalAction may appear more than once). */
    private readonly components: LocalAction[],
  ) {
    this.name = id.qualified;
  }

  private unique(): LocalAction[] {
    return [...new Set(this.components)];
  }

  get containers(): number {
    return this.unique().reduce((n, c) => n + c.containers, 0);
  }

  get queued(): number {
    return this.unique().reduce((n, c) => n + c.queued, 0);
  }

  get memory(): number {
    return this.unique().reduce((m, c) => Math.max(m, c.memory), 0);
  }

  invoke(params: Record<string, unknown> | unknown[], _ref?: ActionRef): Promise<Activation> {
    return this.run(params, false);
  }

  async run(params: Record<string, unknown> | unknown[] | null | undefined, causedBySequence: boolean): Promise<Activation> {
    if (this.closed) {
      throw new OpenWhiskNodeError('config', `Sequence '${this.name}': the local runtime was closed (flow stopped or redeployed).`, {
        reason: 'closed',
      });
    }
    const start = Date.now();
    const ids: string[] = [];
    const components: Activation[] = [];
    let duration = 0;
    let input: Record<string, unknown> | unknown[] | null | undefined = params;
    let last: Activation | undefined;
    let failed = false;
    for (const component of this.components) {
      try {
        last = await component.run(input, true);
      } catch (err) {
        const a = (err as OpenWhiskNodeError).activation;
        if (!a) throw err; // no activation (overload, closed, bad input): nothing to record
        last = a;
        failed = true;
      }
      ids.push(last.activationId);
      components.push(last);
      duration += last.duration;
      if (failed || !last.response.success) {
        failed = true;
        break;
      }
      input = last.response.result as Record<string, unknown> | unknown[];
    }
    const end = Date.now();
    const annotations: KeyValue[] = [
      { key: 'topmost', value: !causedBySequence },
      { key: 'path', value: this.id.path },
      { key: 'kind', value: 'sequence' },
    ];
    if (causedBySequence) annotations.push({ key: 'causedBy', value: 'sequence' });
    // Not a platform annotation on sequences, but it lets activationFailure() report code 'timeout'
    // when the failing component timed out.
    if (failed && last?.annotations.some((a) => a.key === 'timeout' && a.value === true)) {
      annotations.push({ key: 'timeout', value: true });
    }
    annotations.push({ key: 'waitTime', value: 0 });
    annotations.push({ key: 'limits', value: { timeout: this.timeout, memory: this.memory, logs: this.logsLimit } });
    const activation: Activation = {
      activationId: newActivationId(),
      namespace: this.id.namespace,
      name: this.id.name,
      subject: this.id.namespace,
      version: this.id.version,
      publish: false,
      start,
      end,
      duration,
      response: (last as Activation).response,
      logs: ids,
      annotations,
    };
    Object.defineProperty(activation, COMPONENTS, { value: components, enumerable: false });
    if (failed) throw activationFailure(activation, this.name);
    return activation;
  }

  close(opts?: CloseOptions): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.closing = Promise.all(this.unique().map((c) => c.close().catch(() => undefined))).then(() => undefined);
    }
    return opts?.wait === 'stopped' ? Promise.resolve() : this.closing;
  }
}
