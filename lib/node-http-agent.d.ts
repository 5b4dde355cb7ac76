// Node's http.Agent is given every request through addRequest(req, options) (nodejs/node,
// lib/_http_agent.js); @types/node does not declare it, though proxy agents (TooTallNate/proxy-agents)
// override it the same way. reply-limit.ts wraps it to see each request get its socket.
import 'http';

declare module 'http' {
  interface Agent {
    addRequest(req: ClientRequest, options: RequestOptions): void;
  }
}
