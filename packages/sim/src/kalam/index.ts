export { KALAM_PLANTED_BUGS, KALAM_SIM_DEFAULTS, KALAM_SIM_LIMITS } from './options.js';
export type { KalamPlantedBug, KalamSimOptions } from './options.js';
export { KalamSimulation, runKalamSimulation } from './simulation.js';
export type { KalamLinearizability, KalamSimResult, KalamSimStats } from './simulation.js';
export {
  FUZZ_ACTORS,
  FUZZ_PASSWORD,
  POOL_NAMESPACES,
  POOL_TABLES,
  SIZES,
  createPoolTable,
  fuzzRequest,
  setupRows,
  setupStatements,
  sqlText,
  statement,
} from './sql-arbitrary.js';
export type { FuzzActor, FuzzRequest } from './sql-arbitrary.js';
