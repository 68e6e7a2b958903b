// A second-language client for the board's truth tests (nats.js, the official Node client).
// Publishes, fetches from a durable, acks / naks / terms, then prints what it did as JSON:
//   node board_client.cjs <url> <stream> <subject-prefix> <durable> <count>
// Output: {"published": [seq, ...], "seen": [[seq, deliveryCount, action|null], ...]}
const { connect, StringCodec } = require("nats");

async function main() {
  const [url, stream, prefix, durable, countText] = process.argv.slice(2);
  const count = parseInt(countText, 10);
  const nc = await connect({ servers: url, name: "board-truth-node" });
  const js = nc.jetstream();
  const sc = StringCodec();
  const out = { published: [], seen: [] };
  for (let i = 0; i < count; i++) {
    const kind = i % 3 === 0 ? "order.created" : "user.updated";
    const ack = await js.publish(`${prefix}.${kind}`, sc.encode(JSON.stringify({ id: `n${i}` })));
    out.published.push(ack.seq);
  }
  const consumer = await js.consumers.get(stream, durable);
  const take = async (max, actionFor) => {
    const msgs = await consumer.fetch({ max_messages: max, expires: 2000 });
    let i = 0;
    for await (const m of msgs) {
      const action = actionFor(i++);
      out.seen.push([m.info.streamSequence, m.info.deliveryCount, action]);
      if (action === "ack") m.ack();
      else if (action === "nak") m.nak();
      else if (action === "term") m.term();
    }
    await nc.flush();
  };
  // ack most; nak the third (taken again below, then acked); term the fifth; hold the seventh
  await take(8, (i) => (i === 2 ? "nak" : i === 4 ? "term" : i === 6 ? null : "ack"));
  // The server takes the nak in its own time: ack what comes until the redelivery has.
  for (let i = 0; i < 20 && !out.seen.some(([, count]) => count > 1); i++) {
    await take(1, () => "ack");
  }
  console.log(JSON.stringify(out));
  await nc.drain();
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
