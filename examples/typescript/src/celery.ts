/**
 * Celery message protocol v2 on Redis (kombu's Redis transport), written out by hand.
 *
 * This is the whole wire format socialcal speaks; README "Integrate" describes it field by field,
 * checked against a message captured from Redis with LRANGE. A queue is a Redis list named after it:
 * producers LPUSH a JSON envelope, consumers take from the right end.
 *
 * Consuming follows kombu's delivery rules so that nothing is lost: a message taken from the queue is
 * recorded in the `unacked` hash (and the `unacked_index` sorted set, scored by the time it was taken)
 * in the same atomic step, and removed from there only once it was handled. If the agent dies first,
 * socialcal's Python workers put the message back on its queue after the visibility timeout (2 h),
 * exactly as they do for their own messages.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import Redis from "ioredis";

export type Args = unknown[];
export type Kwargs = Record<string, unknown>;

/** The headers Celery's own Python producer writes (protocol v2). */
export interface TaskHeaders {
  lang: string;
  task: string;
  id: string;
  shadow: string | null;
  eta: string | null;
  expires: string | null;
  group: string | null;
  group_index: number | null;
  retries: number;
  timelimit: [number | null, number | null];
  root_id: string;
  parent_id: string | null;
  argsrepr: string;
  kwargsrepr: string;
  origin: string;
  ignore_result: boolean | null;
  replaced_task_nesting: number;
  stamped_headers: string[] | null;
  stamps: Record<string, unknown>;
}

export interface Envelope {
  body: string; // base64 of JSON [args, kwargs, embed]
  "content-encoding": "utf-8";
  "content-type": "application/json";
  headers: TaskHeaders;
  properties: {
    correlation_id: string;
    reply_to: string;
    delivery_mode: 2;
    delivery_info: { exchange: string; routing_key: string };
    priority: number;
    body_encoding: "base64";
    delivery_tag: string;
  };
}

export interface SendOptions {
  /** The queue (a Redis list) to put the message on: "default", "publish", "agents.post_writer", ... */
  queue: string;
  /** Set when this message answers another one, so the two share a trace (root_id, parent_id). */
  parent?: TaskHeaders;
}

/** One protocol v2 envelope, field for field what Celery's Python client writes. */
export function envelope(task: string, args: Args, kwargs: Kwargs, options: SendOptions): Envelope {
  const id = randomUUID();
  const embed = { callbacks: null, errbacks: null, chain: null, chord: null };
  return {
    body: Buffer.from(JSON.stringify([args, kwargs, embed]), "utf-8").toString("base64"),
    "content-encoding": "utf-8",
    "content-type": "application/json",
    headers: {
      lang: "js",
      task,
      id,
      shadow: null,
      eta: null, // never set a far ETA: socialcal keeps long waits in its database, not in Redis
      expires: null,
      group: null,
      group_index: null,
      retries: 0,
      timelimit: [null, null],
      root_id: options.parent?.root_id ?? id,
      parent_id: options.parent?.id ?? null,
      argsrepr: JSON.stringify(args).slice(0, 1024),
      kwargsrepr: JSON.stringify(kwargs).slice(0, 1024),
      origin: `${process.pid}@${hostname()}`,
      ignore_result: null,
      replaced_task_nesting: 0,
      stamped_headers: null,
      stamps: {},
    },
    properties: {
      correlation_id: id,
      reply_to: "", // socialcal stores no task results: nobody answers here
      delivery_mode: 2,
      delivery_info: { exchange: "", routing_key: options.queue },
      priority: 0,
      body_encoding: "base64",
      delivery_tag: randomUUID(),
    },
  };
}

/** Queue a task; resolves with its id once Redis has the message. */
export async function sendTask(redis: Redis, task: string, args: Args, kwargs: Kwargs,
                               options: SendOptions): Promise<string> {
  const message = envelope(task, args, kwargs, options);
  await redis.lpush(options.queue, JSON.stringify(message));
  return message.headers.id;
}

// Take the oldest message and record it as unacknowledged in one atomic step (no loss window).
const CLAIM = `
local raw = redis.call('RPOP', KEYS[1])
if not raw then return false end
local message = cjson.decode(raw)
local info = message['properties']['delivery_info']
local tag = message['properties']['delivery_tag']
redis.call('ZADD', KEYS[3], ARGV[1], tag)
redis.call('HSET', KEYS[2], tag, '[' .. raw .. ',' .. cjson.encode(info['exchange']) .. ',' .. cjson.encode(info['routing_key']) .. ']')
return raw
`;

export interface Received {
  task: string;
  args: Args;
  kwargs: Kwargs;
  headers: TaskHeaders;
}

export type Handler = (message: Received) => Promise<void>;

export interface ConsumeOptions {
  /** Stop after this many messages (tests and one-shot runs); default: run until `signal` aborts. */
  maxMessages?: number;
  signal?: AbortSignal;
  /** How long to wait before looking again when the queue is empty. */
  idleMs?: number;
}

function decode(raw: string): Received {
  const message = JSON.parse(raw) as Envelope;
  if (message["content-type"] !== "application/json" || message.properties?.body_encoding !== "base64") {
    throw new Error(`unsupported message: ${message["content-type"]} / ${message.properties?.body_encoding}`);
  }
  const [args, kwargs] = JSON.parse(Buffer.from(message.body, "base64").toString("utf-8")) as [Args, Kwargs];
  return { task: message.headers.task, args, kwargs, headers: message.headers };
}

/**
 * Serve one queue: each message goes to the handler registered for its task name, and is acknowledged
 * only after the handler resolved. A handler that throws leaves the message unacknowledged, so it
 * comes back after the visibility timeout; a message no handler knows (or that cannot be read) is
 * logged and acknowledged, since no retry can ever handle it.
 */
export async function consume(redis: Redis, queue: string, handlers: Record<string, Handler>,
                              options: ConsumeOptions = {}): Promise<number> {
  let handled = 0;
  const idleMs = options.idleMs ?? 500;
  while (!options.signal?.aborted && (options.maxMessages === undefined || handled < options.maxMessages)) {
    const raw = (await redis.eval(CLAIM, 3, queue, "unacked", "unacked_index", Date.now() / 1000)) as string | null;
    if (raw === null) {
      await new Promise((resolve) => setTimeout(resolve, idleMs));
      continue;
    }
    const tag = (JSON.parse(raw) as Envelope).properties.delivery_tag;
    const ack = () => redis.multi().zrem("unacked_index", tag).hdel("unacked", tag).exec();
    let message: Received;
    try {
      message = decode(raw);
    } catch (error) {
      console.error(`dropping an unreadable message from ${queue}: ${error}`);
      await ack();
      continue;
    }
    const handler = handlers[message.task];
    if (handler === undefined) {
      console.error(`no handler for ${message.task} (message ${message.headers.id}); acknowledged and dropped`);
      await ack();
      continue;
    }
    try {
      await handler(message);
      await ack();
      handled += 1;
    } catch (error) {
      console.error(`${message.task} ${message.headers.id} failed (${error}); it comes back after the visibility timeout`);
    }
  }
  return handled;
}

/** A client for SOCIALCAL_BROKER_URL (the broker socialcal's workers use). */
export function connect(): Redis {
  const url = process.env.SOCIALCAL_BROKER_URL ?? "redis://localhost:6379/0";
  return new Redis(url, { maxRetriesPerRequest: 3, enableOfflineQueue: true });
}
