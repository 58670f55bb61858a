import type { Bench } from './node';
import type { Sizes } from './options';

/** A row of the result table: measure, result ("not run" when its phase did not run), goal. */
export type TableRow = [measure: string, result: string, goal: string];

/** One measurement of the benchmark; run.ts lists them in PHASES, in the order they run. */
export interface Phase<R> {
  /** Its name for --only. */
  readonly name: string;
  /** Its key in the --json object, null there when it did not run. */
  readonly key: string;
  /** It uses the fleet (Bench.fleet), which stays connected from one such phase to the next. */
  readonly usesFleet: boolean;
  /** How many seeded agents it uses. */
  agents(sizes: Sizes): number;
  run(bench: Bench): Promise<R>;
  rows(result: R | null, sizes: Sizes): TableRow[];
}
