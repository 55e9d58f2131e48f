/**
 * Approve a post from TypeScript: queue `approval.approve(post_id, approver, content_hash)` on
 * socialcal's "default" queue, as the approval UI does.
 *
 *   SOCIALCAL_BROKER_URL=redis://localhost:6379/0 node dist/approve.js POST_ID ann CONTENT_HASH
 *
 * The content hash is the one the person saw (`socialcal posts show POST --json` → content_hash):
 * socialcal approves only that exact content, then publishes it after its own gate checks.
 */
import { connect, sendTask } from "./celery";

async function main(): Promise<void> {
  const [postId, approver, contentHash] = process.argv.slice(2);
  if (!postId || !approver || !contentHash) {
    console.error("usage: approve.js POST_ID APPROVER CONTENT_HASH");
    process.exit(2);
  }
  const redis = connect();
  try {
    const taskId = await sendTask(redis, "approval.approve", [postId, approver, contentHash], {},
                                  { queue: "default" });
    console.log(taskId);
  } finally {
    redis.disconnect();
  }
}

main().catch((error) => {
  console.error(`could not queue approval.approve: ${error}`);
  process.exit(1);
});
