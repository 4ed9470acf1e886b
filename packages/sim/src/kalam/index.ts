export { KALAM_PLANTED_BUGS, KALAM_SIM_DEFAULTS, KALAM_SIM_LIMITS } from './options.js';
export type { KalamPlantedBug, KalamSimOptions } from './options.js';
export { KalamSimulation, runKalamSimulation } from './simulation.js';
export type { KalamLinearizability, KalamSimResult, KalamSimStats } from './simulation.js';
