// JSON-RPC to the node that serves this page: HTTP POST for requests and
// batches, the same port's WebSocket for `eth_subscribe`.

let nextId = 1;

/** An error the node answered, with its JSON-RPC code and data. */
export class RpcError extends Error {
  constructor({ code, message, data }) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

async function post(body) {
  const response = await fetch("/", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return response.json();
}

/** One call; resolves to its result or throws an RpcError. */
export async function call(method, params = []) {
  const answer = await post({ jsonrpc: "2.0", id: nextId++, method, params });
  if (answer.error) throw new RpcError(answer.error);
  return answer.result;
}

/**
 * Several calls in one HTTP request; resolves to their results in order
 * (an entry that failed is an RpcError, not thrown).
 */
export async function batch(calls) {
  if (calls.length === 0) return [];
  const first = nextId;
  nextId += calls.length;
  const body = calls.map(([method, params], i) => ({ jsonrpc: "2.0", id: first + i, method, params }));
  const answers = await post(body);
  const byId = new Map(answers.map((a) => [a.id, a]));
  return calls.map((_, i) => {
    const answer = byId.get(first + i);
    if (!answer) return new RpcError({ code: -32603, message: "no answer in the batch" });
    return answer.error ? new RpcError(answer.error) : answer.result;
  });
}

/**
 * Calls `onHead(header)` for every new block, over the node's WebSocket
 * (`eth_subscribe newHeads`), reconnecting when the connection drops;
 * `onState(text)` hears whether it is live.
 */
export function subscribeHeads(onHead, onState) {
  let delay = 500;
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/`);
    let subscription = null;
    socket.onopen = () => {
      delay = 500;
      socket.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["newHeads"] }));
    };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.id === 1 && message.result) {
        subscription = message.result;
        onState("live");
      } else if (message.method === "eth_subscription" && message.params?.subscription === subscription) {
        onHead(message.params.result);
      }
    };
    socket.onclose = () => {
      onState("reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10_000);
    };
  };
  connect();
}
