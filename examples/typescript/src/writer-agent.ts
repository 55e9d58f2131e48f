/**
 * A writer agent in TypeScript: serve socialcal's "agents.post_writer" queue and answer every
 * `agents.post_writer.request` with a `posts.intake` task carrying the copy for that slot.
 *
 *   SOCIALCAL_BROKER_URL=redis://localhost:6379/0 node dist/writer-agent.js      # until Ctrl-C
 *   MAX_MESSAGES=5 node dist/writer-agent.js                                       # five, then exit
 *
 * The request (args[0]) carries tenant_id, slot_id, integration_id, page_id, page_name, scheduled_at,
 * local_time, timezone, content_type, theme and platform. The answer needs tenant_id and slot_id (the
 * slot gives the post its time and Page); integration_id is passed back as received.
 */
import { consume, connect, Received, sendTask } from "./celery";

interface WriterRequest {
  tenant_id: string;
  slot_id: string;
  integration_id?: string;
  content_type?: string;
  theme?: string | null;
  local_time?: string;
}

function write(request: WriterRequest): string {
  const day = request.local_time ? new Date(request.local_time).toDateString() : "soon";
  return `Written in TypeScript: a ${request.theme ?? "post"} for ${day}.`;
}

async function main(): Promise<void> {
  const redis = connect();
  const stop = new AbortController();
  process.on("SIGTERM", () => stop.abort());
  process.on("SIGINT", () => stop.abort());
  const maxMessages = process.env.MAX_MESSAGES ? Number(process.env.MAX_MESSAGES) : undefined;
  const crashBeforeAck = process.env.CRASH_BEFORE_ACK === "1"; // tests: die holding a message

  const handled = await consume(redis, "agents.post_writer", {
    "agents.post_writer.request": async (message: Received) => {
      const request = message.args[0] as WriterRequest;
      if (crashBeforeAck) {
        process.exit(3);
      }
      const payload = {
        tenant_id: request.tenant_id,
        slot_id: request.slot_id,
        ...(request.integration_id ? { integration_id: request.integration_id } : {}),
        platform: "facebook",
        content_type: "text",
        message: write(request),
        writer_run_id: `ts-${message.headers.id}`,
      };
      await sendTask(redis, "posts.intake", [payload], {}, { queue: "default", parent: message.headers });
    },
  }, { maxMessages, signal: stop.signal });
  console.log(`answered ${handled} writer request(s)`);
  redis.disconnect();
}

main().catch((error) => {
  console.error(`writer agent stopped: ${error}`);
  process.exit(1);
});
