/**
 * The command lines of the project's own tools (`deno task bench`, `fuzz`, `soak`) read strictly:
 * an option they do not know is one line naming it (and the option it likely meant) and exit 2 —
 * not a stack trace, and not, as the bench did, a whole 20-minute run that ignored the option the
 * engineer mistyped.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { nearestOption } from "../../src/shared/cli.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** The values of `args` for `options`; a bad command line exits 2 with one line saying why. */
export function toolArgs<T extends Options>(
  tool: string,
  options: T,
  args: string[] = Deno.args,
): ReturnType<typeof parseArgs<{ options: T; strict: true }>>["values"] {
  try {
    return parseArgs({ args, options, strict: true }).values;
  } catch (e) {
    const message = (e as Error).message.replace(/\. To specify.*$/s, "");
    const unknown = /^Unknown option '--([^']*)'$/.exec(message);
    const near = unknown ? nearestOption(unknown[1].split("=")[0], Object.keys(options)) : null;
    console.error(
      `${tool}: ${message}${near ? ` (did you mean --${near}?)` : ""}; ${tool} --help lists them`,
    );
    Deno.exit(2);
  }
}
