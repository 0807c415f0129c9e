/**
 * What the runtime alone costs: the bench starts this with the same `deno run -A` and working
 * directory (so the same deno.json and lock) as the agent, and reads its RSS beside the idle
 * agent's. It prints one line when it is up and then only keeps a timer, like an idle program.
 * @module
 */
setInterval(() => {}, 1 << 30);
console.log("up");
