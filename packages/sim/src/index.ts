export { Checker } from './checker.js';
export type { Violation } from './checker.js';
export { SIM_DEFAULTS, SIM_LIMITS } from './options.js';
export type { SimOptions } from './options.js';
export { Simulation, runSimulation } from './simulation.js';
export type { SimResult, SimStats } from './simulation.js';
