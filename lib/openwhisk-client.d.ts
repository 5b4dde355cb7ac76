// Types for the request layer of the `openwhisk` npm package (apache/openwhisk-client-js,
// lib/client.js), which its own typings do not describe. Its request() resolves with the parsed
// JSON body, rejects with an OpenWhiskError carrying statusCode and the error body, and passes
// its options on to needle (which honours an AbortSignal).
declare module 'openwhisk/lib/client' {
  import type openwhisk from 'openwhisk';
  import type { Agent } from 'node:http';

  interface RequestOptions {
    qs?: Record<string, string | number | boolean>;
    body?: unknown;
    signal?: AbortSignal;
    headers?: Record<string, string>;
    /** Used for this request when the client was built without an agent of its own. */
    agent?: Agent;
    /** needle's parsers for the reply: 'json' leaves any other content type as text. */
    parse_response?: 'json';
  }

  class Client {
    constructor(options: openwhisk.Options);
    /** The options as the constructor resolved them; `api` is the API's base URL. */
    readonly options: { api: string; proxy?: string };
    request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, options?: RequestOptions): Promise<unknown>;
  }

  export = Client;
}
