export {
  DRIVER_BUGS,
  PLANTED_BUG_LIST,
  STATE_MACHINE_BUGS,
  driverSwitches,
  isCoreBug,
  isDriverBug,
  isStateMachineBug,
} from './bugs.js';
export type {
  AnyPlantedBug,
  DriverBugName,
  PlantedBugInfo,
  PlantedBugLayer,
  RaftSimBug,
  StateMachineBugName,
} from './bugs.js';
export { Checker } from './checker.js';
export type { Violation } from './checker.js';
export { SIM_DEFAULTS, SIM_LIMITS } from './options.js';
export type { SimOptions } from './options.js';
export { Simulation, runSimulation } from './simulation.js';
export type { SimResult, SimStats } from './simulation.js';
export {
  KALAM_PLANTED_BUGS,
  KALAM_SIM_DEFAULTS,
  KALAM_SIM_LIMITS,
  KalamSimulation,
  runKalamSimulation,
} from './kalam/index.js';
export type {
  KalamLinearizability,
  KalamPlantedBug,
  KalamSimOptions,
  KalamSimResult,
  KalamSimStats,
} from './kalam/index.js';
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
} from './kalam/index.js';
export type { FuzzActor, FuzzRequest } from './kalam/index.js';
